"""Everything that turns predictions into numbers beyond accuracy (DESIGN.md section 1, evaluation/)."""
