// strata's own file (not from DuckDB): describes the vendored ICU extension to
// duckdb_register_static_extension, the same way DuckDB's generated loader describes the
// extensions libduckdb-sys compiles in (parquet, json, core_functions). src/engine calls
// strata_duckdb_icu_describe's registration before it opens a database.

#include "duckdb/main/extension/extension_loader.hpp"
#include "duckdb_static_extension.h"

extern "C" void icu_duckdb_cpp_init(duckdb::ExtensionLoader &loader);

extern "C" int32_t strata_duckdb_icu_describe(duckdb_extension_descriptor *descriptor) {
	if (descriptor->version < 1) {
		descriptor->set_error(descriptor, "extension icu needs descriptor layout 1");
		return 1;
	}
	descriptor->version = 1;
	descriptor->name = "icu";
	descriptor->extension_version = "";
	descriptor->api_version = "v2.0.0";
	descriptor->entry_cpp = (void (*)(void))icu_duckdb_cpp_init;
	return 0;
}
