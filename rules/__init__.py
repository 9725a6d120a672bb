"""Rules: the policy engine and the built-in rule files (Sigma detection rules, response policies)."""
