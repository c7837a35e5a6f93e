"""Optimisation-based methods: Gatys et al., Neural Best Buddies keypoints, their pruning, Deformable Style
Transfer. Each optimises an image (or a warp) per call instead of running a trained network."""
