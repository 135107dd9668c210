"""Everything that turns predictions into numbers beyond accuracy."""
