"""Every reader of files that a user or a worker brought: restricted unpickler, torch files, model files."""
