"""The REST API (DRF): the only package that imports rest_framework views and serializers."""
