"""archsim.outputs."""
