"""Files in and out: images, label masks, video files and cameras, audio, atomic writes (torch-free)."""
