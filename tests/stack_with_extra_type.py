"""`python -m tests.stack_with_extra_type`: the local stack with one content
type more, added the way a maintainer adds one, in the contract module
alone. Importing this module adds nothing; running it does."""
from chalicelib import contract

HAIKU = contract.ContentType("Haiku", "You are a poet. Write one haiku, in three lines, "
                                      "about the subject the user gives.")

if __name__ == "__main__":
    contract.CONTENT_TYPES[HAIKU.name] = HAIKU
    from devstack.__main__ import main
    main()
