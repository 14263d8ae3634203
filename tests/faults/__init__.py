"""Throwaway PostgreSQL and Redis servers the fault suite may stop and restart."""
