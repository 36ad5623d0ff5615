#ifndef LOTSE_SQLITE_H
#define LOTSE_SQLITE_H

/// Process-wide SQLite settings, before the first connection opens (sqlite3_config is variadic,
/// which Swift cannot call). Turns off SQLite's memory statistics: they take one global mutex on
/// every allocation, which two threads reading the database fight over. Returns SQLITE_OK, or
/// SQLITE_MISUSE when SQLite was already initialised (the settings then stay as they were).
int lotse_sqlite_configure(void);

#endif
