"""archsim.blocks."""
