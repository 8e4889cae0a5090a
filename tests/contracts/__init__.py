"""Contract test suite (eth-tester and anvil)."""
