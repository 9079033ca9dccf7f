"""An example overseer plugin: two realistic tools a team might add.

- ``deploy_preview`` (a ``Tool`` subclass): publishes a branch to a preview
  environment through the team's deploy webhook. It declares its network
  host and an ``open_world`` risk hint, and shows the approver which commit
  goes where. The plugin's policy rules make it ask.
- ``http_get`` (an ``@overseer.tool`` function): fetches a URL from an
  allow-list of hosts. It refuses other hosts itself, and declares the host
  so the policy can judge it too.

Both are registered in the ``overseer.tools.opt_in`` entry-point group in
this package's pyproject.toml: installed, they are listed by ``overseer
tools`` but offered to an agent only when a session names them (``--tool
deploy_preview``). ``policy.toml`` beside it holds their rules.
"""
