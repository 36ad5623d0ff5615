#include <sqlite3.h>
#include "lotse_sqlite.h"

int lotse_sqlite_configure(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
