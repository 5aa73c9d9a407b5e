"""``python -m storage new <database> "<message>"``: start a migration (see :mod:`storage.migrate`)."""

from storage.migrate import main

main()
