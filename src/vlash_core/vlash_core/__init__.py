"""Step arithmetic, safety model and node plumbing shared by the executor and the policy."""
