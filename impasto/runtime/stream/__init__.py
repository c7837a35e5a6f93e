"""Frame streams: the live pipeline, temporal stabilisation, video transcoding (torch-free)."""
