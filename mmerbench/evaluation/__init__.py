"""Everything that turns predictions into numbers (DESIGN.md section 1)."""
