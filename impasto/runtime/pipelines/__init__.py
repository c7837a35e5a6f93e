"""Front-ends that run one method's graph: stylizer, bank, photoreal/WCT, warp, multiscale (torch-free)."""
