"""Run configuration: YAML files → located raw mapping → typed attrs objects."""
