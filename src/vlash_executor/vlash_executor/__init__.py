"""vlash_executor package."""
