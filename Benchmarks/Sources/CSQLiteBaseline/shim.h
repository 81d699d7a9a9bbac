// The system SQLite (Debian `libsqlite3-dev`), for the raw C-API baselines the store benchmarks compare against.
#include <sqlite3.h>
