"""archsim.plots."""
