// Changing an embedded store's file from outside the store, as damage or an
// older version of iomt would leave it.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>

namespace iomt::store {

// Runs `sql` on DIR/store.db through its own connection (the store closed).
inline void RunSqlOnStoreFile(const std::string& dir, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir + "/store.db").c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, &error), SQLITE_OK) << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

// The first column of the first row `sql` gives on DIR/store.db, as text
// ("" when there is no row).
inline std::string QueryStoreFile(const std::string& dir, const char* sql) {
  sqlite3* db = nullptr;
  std::string out;
  if (sqlite3_open((dir + "/store.db").c_str(), &db) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW) {
      const unsigned char* text = sqlite3_column_text(stmt, 0);
      if (text != nullptr) out = reinterpret_cast<const char*>(text);
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return out;
}

}  // namespace iomt::store
