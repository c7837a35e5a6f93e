"""Native TensorRT: optimisation profiles, engine sidecars, CUDA memory, the backend (torch-free)."""
