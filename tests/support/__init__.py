"""Test support that is not a fixture file: throwaway servers and the like."""
