"""archsim.config."""
