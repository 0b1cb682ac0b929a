"""The standalone Clarion server: a Django project that only wires the app up."""
