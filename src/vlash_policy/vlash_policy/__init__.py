"""vlash_policy package."""
