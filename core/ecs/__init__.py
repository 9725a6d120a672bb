"""Elastic Common Schema and Kibana alert fields for warden's alert documents."""
