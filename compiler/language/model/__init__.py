"""The automation language as pydantic models: automation, triggers, actions, chains; import the submodules."""
