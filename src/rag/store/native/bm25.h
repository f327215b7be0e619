// BM25 scoring over posting lists (see bm25.cc), exported by the same addon as the int8 graph.
#pragma once
#include <napi.h>

namespace verbatim {

// Adds bm25TopK to the addon's exports.
void InitBm25(Napi::Env env, Napi::Object exports);

}  // namespace verbatim
