"""Final projects: who works on what, and the persistent event stream of each project."""
