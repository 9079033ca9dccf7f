"""Examples shipped with overseer (installed as ``overseer.examples``): the
demo repository builder, example policies, plans and project configs."""
