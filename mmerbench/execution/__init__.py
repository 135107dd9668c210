"""Running planned jobs: worker processes, what happens when one dies, store failures."""
