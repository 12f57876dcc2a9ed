"""The declarative model: strict pydantic types, YAML loading with positions, file assets."""
