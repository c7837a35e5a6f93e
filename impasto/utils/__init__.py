"""Small torch-free helpers shared by the runtime, the CLI and the trainers."""
