// An hnsw graph of 8-bit integer codes, built on hnswlib's headers (those hnswlib-node ships): a projected graph's
// points quantized to int8 take a quarter of the memory of float32 ones, so two 50k-point graphs built at once fit
// in a 32 MB L3 cache together. The distance is the negated integer dot product, an inner-product space.
// scanKnn compares a query with every code of a plain array instead: below a few hundred thousand points, that is
// faster than a graph search, needs no graph built, and misses nothing the codes can tell apart.
#include <napi.h>

#ifdef __AVX2__
#include <immintrin.h>
#endif

#include <cmath>
#include <functional>
#include <queue>
#include <utility>
#include <vector>
#include <algorithm>
#include <cstdint>
#include <memory>
#include <limits>
#include <stdexcept>
#include <string>

#include "hnswlib/hnswlib.h"
#include "bm25.h"

#ifdef __linux__
#include <sched.h>
#endif

namespace {

#ifdef __AVX2__
// The sum of the eight 32-bit lanes of `acc`.
inline int32_t SumOfLanes(__m256i acc) {
  __m128i lanes = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
  lanes = _mm_add_epi32(lanes, _mm_shuffle_epi32(lanes, 0x4e));
  lanes = _mm_add_epi32(lanes, _mm_shuffle_epi32(lanes, 0xb1));
  return _mm_cvtsi128_si32(lanes);
}
#endif

// The dot product of two vectors of n int8 codes, each within ±127 (-128 would overflow the AVX2 path's sign step).
inline int32_t Int8Dot(const int8_t* x, const int8_t* y, size_t n) {
  size_t i = 0;
  int32_t sum = 0;
#ifdef __AVX2__
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc = _mm256_setzero_si256();
  for (; i + 32 <= n; i += 32) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y + i));
    // |b| times (a with b's sign): unsigned by signed bytes, adjacent pairs summed in 16 bits (at most 2·127·127).
    const __m256i pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(b), _mm256_sign_epi8(a, b));
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, ones));
  }
  sum = SumOfLanes(acc);
#endif
  for (; i < n; i++) sum += static_cast<int32_t>(x[i]) * static_cast<int32_t>(y[i]);
  return sum;
}

// The dot product of a row of 4-bit codes with `dims` int8 weights: byte j of the row holds dimension j in its low
// nibble and dimension j + dims/2 in its high one, each from 0 to 15 (dims even).
inline int32_t NibbleDot(const uint8_t* x, const int8_t* w, size_t dims) {
  const size_t half = dims / 2;
  size_t j = 0;
  int32_t sum = 0;
#ifdef __AVX2__
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256i low = _mm256_set1_epi8(0x0F);
  __m256i acc = _mm256_setzero_si256();
  for (; j + 32 <= half; j += 32) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + j));
    const __m256i lo = _mm256_and_si256(v, low);
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
    // Unsigned nibbles times signed weights, adjacent pairs summed in 16 bits: at most 2 · 2 · 15 · 127 together.
    const __m256i pairs = _mm256_add_epi16(
        _mm256_maddubs_epi16(lo, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + j))),
        _mm256_maddubs_epi16(hi, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + half + j))));
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, ones));
  }
  sum = SumOfLanes(acc);
#endif
  for (; j < half; j++) sum += (x[j] & 15) * static_cast<int32_t>(w[j]) + (x[j] >> 4) * static_cast<int32_t>(w[half + j]);
  return sum;
}

float Int8InnerProductDistance(const void* a, const void* b, const void* param) {
  return -static_cast<float>(
      Int8Dot(static_cast<const int8_t*>(a), static_cast<const int8_t*>(b), *static_cast<const size_t*>(param)));
}

class Int8Space : public hnswlib::SpaceInterface<float> {
 public:
  explicit Int8Space(size_t dimensions) : dimensions_(dimensions) {}
  size_t get_data_size() override { return dimensions_; }
  hnswlib::DISTFUNC<float> get_dist_func() override { return Int8InnerProductDistance; }
  void* get_dist_func_param() override { return &dimensions_; }

 private:
  size_t dimensions_;
};

class LabelBelow : public hnswlib::BaseFilterFunctor {
 public:
  explicit LabelBelow(double bound) : bound_(bound) {}
  bool operator()(hnswlib::labeltype label) override { return static_cast<double>(label) < bound_; }

 private:
  double bound_;
};

class Int8Graph : public Napi::ObjectWrap<Int8Graph> {
 public:
  static Napi::Object Init(Napi::Env env, Napi::Object exports) {
    Napi::Function ctor = DefineClass(env, "Int8Graph",
                                      {
                                          InstanceMethod("initIndex", &Int8Graph::InitIndex),
                                          InstanceMethod("readIndex", &Int8Graph::ReadIndex),
                                          InstanceMethod("writeIndex", &Int8Graph::WriteIndex),
                                          InstanceMethod("resizeIndex", &Int8Graph::ResizeIndex),
                                          InstanceMethod("setEf", &Int8Graph::SetEf),
                                          InstanceMethod("getCurrentCount", &Int8Graph::GetCurrentCount),
                                          InstanceMethod("getMaxElements", &Int8Graph::GetMaxElements),
                                          InstanceMethod("getIdsList", &Int8Graph::GetIdsList),
                                          InstanceMethod("addPoints", &Int8Graph::AddPoints),
                                          InstanceMethod("searchKnn", &Int8Graph::SearchKnn),
                                          InstanceMethod("markDelete", &Int8Graph::MarkDelete),
                                      });
    exports.Set("Int8Graph", ctor);
    return exports;
  }

  explicit Int8Graph(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Int8Graph>(info) {
    if (info.Length() < 1 || !info[0].IsNumber() || info[0].As<Napi::Number>().Int64Value() <= 0) {
      Fail(info.Env(), "Int8Graph(dimensions): dimensions must be a positive integer");
      return;
    }
    dimensions_ = static_cast<size_t>(info[0].As<Napi::Number>().Int64Value());
    space_ = std::make_unique<Int8Space>(dimensions_);
  }

 private:
  size_t dimensions_ = 0;
  std::unique_ptr<Int8Space> space_;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> index_;

  static Napi::Value Fail(Napi::Env env, const std::string& message) {
    Napi::Error::New(env, message).ThrowAsJavaScriptException();
    return env.Undefined();
  }

  static bool Numbers(const Napi::CallbackInfo& info, size_t count) {
    if (info.Length() < count) return false;
    for (size_t i = 0; i < count; i++)
      if (!info[i].IsNumber()) return false;
    return true;
  }

  bool Ready(Napi::Env env) {
    if (index_) return true;
    Fail(env, "Int8Graph: initIndex or readIndex first");
    return false;
  }

  bool Codes(Napi::Env env, const Napi::Value& value, Napi::TypedArrayOf<int8_t>* out) {
    if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_int8_array) {
      Fail(env, "Int8Graph: codes must be an Int8Array");
      return false;
    }
    *out = value.As<Napi::TypedArrayOf<int8_t>>();
    return true;
  }

  // initIndex(maxElements, m, efConstruction, randomSeed)
  Napi::Value InitIndex(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Numbers(info, 4)) return Fail(env, "initIndex(maxElements, m, efConstruction, randomSeed)");
    try {
      index_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(
          space_.get(), static_cast<size_t>(info[0].As<Napi::Number>().Int64Value()),
          static_cast<size_t>(info[1].As<Napi::Number>().Int64Value()),
          static_cast<size_t>(info[2].As<Napi::Number>().Int64Value()),
          static_cast<size_t>(info[3].As<Napi::Number>().Int64Value()));
    } catch (const std::exception& err) {
      return Fail(env, err.what());
    }
    return env.Undefined();
  }

  // readIndex(path, maxElements): hnswlib's loader trusts the file, so the caller checks its checksum first.
  Napi::Value ReadIndex(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber())
      return Fail(env, "readIndex(path, maxElements)");
    try {
      auto index = std::make_unique<hnswlib::HierarchicalNSW<float>>(
          space_.get(), info[0].As<Napi::String>().Utf8Value(), false,
          static_cast<size_t>(info[1].As<Napi::Number>().Int64Value()));
      if (index->label_offset_ - index->offsetData_ != dimensions_)
        return Fail(env, "readIndex: the file holds points of another size");
      index_ = std::move(index);
    } catch (const std::exception& err) {
      return Fail(env, err.what());
    }
    return env.Undefined();
  }

  Napi::Value WriteIndex(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) return Fail(env, "writeIndex(path)");
    if (!Ready(env)) return env.Undefined();
    try {
      index_->saveIndex(info[0].As<Napi::String>().Utf8Value());
    } catch (const std::exception& err) {
      return Fail(env, err.what());
    }
    return env.Undefined();
  }

  Napi::Value ResizeIndex(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Numbers(info, 1)) return Fail(env, "resizeIndex(maxElements)");
    if (!Ready(env)) return env.Undefined();
    try {
      index_->resizeIndex(static_cast<size_t>(info[0].As<Napi::Number>().Int64Value()));
    } catch (const std::exception& err) {
      return Fail(env, err.what());
    }
    return env.Undefined();
  }

  Napi::Value SetEf(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Numbers(info, 1)) return Fail(env, "setEf(ef)");
    if (!Ready(env)) return env.Undefined();
    index_->setEf(static_cast<size_t>(info[0].As<Napi::Number>().Int64Value()));
    return env.Undefined();
  }

  Napi::Value GetCurrentCount(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), index_ ? static_cast<double>(index_->getCurrentElementCount()) : 0);
  }

  Napi::Value GetMaxElements(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), index_ ? static_cast<double>(index_->getMaxElements()) : 0);
  }

  Napi::Value GetIdsList(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!index_) return Napi::Array::New(env, 0);
    Napi::Array ids = Napi::Array::New(env, index_->label_lookup_.size());
    uint32_t i = 0;
    for (const auto& entry : index_->label_lookup_) ids[i++] = Napi::Number::New(env, static_cast<double>(entry.first));
    return ids;
  }

  // addPoints(codes: Int8Array, labels: Float64Array): codes holds labels.length points one after the other.
  Napi::Value AddPoints(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::TypedArrayOf<int8_t> codes;
    if (info.Length() < 2 || !Codes(env, info[0], &codes)) return env.Undefined();
    if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
      return Fail(env, "addPoints: labels must be a Float64Array");
    if (!Ready(env)) return env.Undefined();
    Napi::Float64Array labels = info[1].As<Napi::Float64Array>();
    if (codes.ElementLength() != labels.ElementLength() * dimensions_)
      return Fail(env, "addPoints: codes must hold labels.length × dimensions values");
    try {
      for (size_t i = 0; i < labels.ElementLength(); i++)
        index_->addPoint(codes.Data() + i * dimensions_, static_cast<hnswlib::labeltype>(labels[i]));
    } catch (const std::exception& err) {
      return Fail(env, err.what());
    }
    return env.Undefined();
  }

  // searchKnn(query: Int8Array, k, visibleBelow): the k nearest labels below visibleBelow, closest first.
  Napi::Value SearchKnn(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::TypedArrayOf<int8_t> query;
    if (info.Length() < 3 || !Codes(env, info[0], &query) || !info[1].IsNumber() || !info[2].IsNumber())
      return env.IsExceptionPending() ? env.Undefined() : Fail(env, "searchKnn(query, k, visibleBelow)");
    if (!Ready(env)) return env.Undefined();
    if (query.ElementLength() != dimensions_) return Fail(env, "searchKnn: the query has another size");
    const double bound = info[2].As<Napi::Number>().DoubleValue();
    LabelBelow below(bound);
    std::priority_queue<std::pair<float, hnswlib::labeltype>> found;
    try {
      found = index_->searchKnn(query.Data(), static_cast<size_t>(info[1].As<Napi::Number>().Int64Value()),
                                std::isfinite(bound) ? &below : nullptr);
    } catch (const std::exception& err) {
      return Fail(env, err.what());
    }
    const size_t n = found.size();
    Napi::Array neighbors = Napi::Array::New(env, n);
    Napi::Array distances = Napi::Array::New(env, n);
    for (size_t i = n; i-- > 0;) {
      neighbors[i] = Napi::Number::New(env, static_cast<double>(found.top().second));
      distances[i] = Napi::Number::New(env, found.top().first);
      found.pop();
    }
    Napi::Object result = Napi::Object::New(env);
    result.Set("neighbors", neighbors);
    result.Set("distances", distances);
    return result;
  }

  Napi::Value MarkDelete(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Numbers(info, 1)) return Fail(env, "markDelete(label)");
    if (!Ready(env)) return env.Undefined();
    try {
      index_->markDelete(static_cast<hnswlib::labeltype>(info[0].As<Napi::Number>().Int64Value()));
    } catch (const std::exception& err) {
      return Fail(env, err.what());
    }
    return env.Undefined();
  }
};

using Hit = std::pair<int32_t, uint32_t>;
/** The best hits so far, the weakest on top. */
using Hits = std::priority_queue<Hit, std::vector<Hit>, std::greater<Hit>>;

// The scores of `rows` rows of codes against the query (D: the row size when known at compile time, 0 when not):
// a loop of nothing else, so that the compiler keeps it in registers.
template <size_t D>
__attribute__((noinline)) void Scores(const int8_t* codes, const int8_t* query, size_t rows, size_t dims,
                                      int32_t* out) {
  const size_t d = D > 0 ? D : dims;
  for (size_t i = 0; i < rows; i++) out[i] = Int8Dot(codes + i * d, query, d);
}

template <size_t D>
__attribute__((noinline)) void NibbleScores(const uint8_t* codes, const int8_t* weights, size_t rows, size_t dims,
                                            int32_t* out) {
  const size_t d = D > 0 ? D : dims;
  for (size_t i = 0; i < rows; i++) out[i] = NibbleDot(codes + i * (d / 2), weights, d);
}

#ifdef __AVX2__
// Lane i of the result: the sum of the eight 32-bit lanes of the i-th argument.
inline __m128i SumsOfLanes(__m256i a0, __m256i a1, __m256i a2, __m256i a3) {
  const __m256i s = _mm256_hadd_epi32(_mm256_hadd_epi32(a0, a1), _mm256_hadd_epi32(a2, a3));
  return _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

// NibbleScores for rows of D/2 bytes, D a multiple of 64 up to 256: the weights stay in registers, a row's products
// are summed in 16 bits (at most 2·D/64 sums of pairs of 15·127: 30,480 for D = 256), and four rows' lanes are added
// up together. The same scores as NibbleDot.
template <size_t D>
__attribute__((noinline)) void NibbleScoresAvx2(const uint8_t* codes, const int8_t* weights, size_t rows,
                                                int32_t* out) {
  constexpr size_t kHalf = D / 2;
  constexpr size_t kChunks = kHalf / 32;
  static_assert(kHalf % 32 == 0 && kChunks >= 1 && kChunks <= 4, "rows of 32 to 128 bytes");
  __m256i low_weights[kChunks];
  __m256i high_weights[kChunks];
  for (size_t c = 0; c < kChunks; c++) {
    low_weights[c] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(weights + 32 * c));
    high_weights[c] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(weights + kHalf + 32 * c));
  }
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256i low = _mm256_set1_epi8(0x0F);
  const auto row = [&](const uint8_t* x) {
    __m256i pairs = _mm256_setzero_si256();
    for (size_t c = 0; c < kChunks; c++) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 32 * c));
      pairs = _mm256_add_epi16(pairs, _mm256_maddubs_epi16(_mm256_and_si256(v, low), low_weights[c]));
      pairs = _mm256_add_epi16(
          pairs, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), low), high_weights[c]));
    }
    return _mm256_madd_epi16(pairs, ones);
  };
  size_t i = 0;
  for (; i + 4 <= rows; i += 4) {
    const uint8_t* x = codes + i * kHalf;
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     SumsOfLanes(row(x), row(x + kHalf), row(x + 2 * kHalf), row(x + 3 * kHalf)));
  }
  for (; i < rows; i++) out[i] = SumOfLanes(row(codes + i * kHalf));
}
#endif

// The k best of `count` rows, not deleted and labelled below `bound`, into `best`; `scoresOf(from, rows, out)` writes
// the scores of rows `from` to `from + rows`, at most 512 at a time. Once `best` holds k rows, a row must score above
// the weakest of them: eight scores are compared with it at once, and only those above it are looked at further
// (scores are far from INT32_MIN, which stands for "not full yet").
template <typename BlockScores>
void SelectRows(BlockScores scoresOf, const double* labels, const uint8_t* deleted, size_t count, size_t k,
                double bound, Hits* best) {
  constexpr size_t kBlock = 512;
  alignas(32) int32_t scores[kBlock];
  int32_t floor = std::numeric_limits<int32_t>::min();
  const auto offer = [&](size_t i, int32_t score) {
    if (score <= floor || deleted[i] || !(labels[i] < bound)) return;
    if (best->size() == k) best->pop();
    best->emplace(score, static_cast<uint32_t>(i));
    if (best->size() == k) floor = best->top().first;
  };
  for (size_t from = 0; from < count && k > 0; from += kBlock) {
    const size_t rows = std::min(kBlock, count - from);
    scoresOf(from, rows, scores);
    size_t r = 0;
#ifdef __AVX2__
    for (; r + 8 <= rows; r += 8) {
      const __m256i above = _mm256_cmpgt_epi32(_mm256_load_si256(reinterpret_cast<const __m256i*>(scores + r)),
                                               _mm256_set1_epi32(floor));
      for (uint32_t lanes = _mm256_movemask_ps(_mm256_castsi256_ps(above)); lanes != 0; lanes &= lanes - 1) {
        const size_t lane = __builtin_ctz(lanes);
        offer(from + r + lane, scores[r + lane]);
      }
    }
#endif
    for (; r < rows; r++) offer(from + r, scores[r]);
  }
}

// The k best of `count` rows of `dims` codes, not deleted and labelled below `bound`, into `best`.
void ScanRows(const int8_t* codes, const double* labels, const uint8_t* deleted, size_t count, const int8_t* query,
              size_t dims, size_t k, double bound, Hits* best) {
  SelectRows(
      [&](size_t from, size_t rows, int32_t* out) {
        const int8_t* block = codes + from * dims;
        switch (dims) {  // the usual sizes unrolled
          case 64: Scores<64>(block, query, rows, dims, out); break;
          case 128: Scores<128>(block, query, rows, dims, out); break;
          case 256: Scores<256>(block, query, rows, dims, out); break;
          default: Scores<0>(block, query, rows, dims, out);
        }
      },
      labels, deleted, count, k, bound, best);
}

// The same over 4-bit codes (rows of dims/2 bytes) scored against int8 weights.
void ScanNibbleRows(const uint8_t* codes, const double* labels, const uint8_t* deleted, size_t count,
                    const int8_t* weights, size_t dims, size_t k, double bound, Hits* best) {
  SelectRows(
      [&](size_t from, size_t rows, int32_t* out) {
        const uint8_t* block = codes + from * (dims / 2);
        switch (dims) {
#ifdef __AVX2__
          case 64: NibbleScoresAvx2<64>(block, weights, rows, out); break;
          case 128: NibbleScoresAvx2<128>(block, weights, rows, out); break;
          case 192: NibbleScoresAvx2<192>(block, weights, rows, out); break;
          case 256: NibbleScoresAvx2<256>(block, weights, rows, out); break;
#endif
          default: NibbleScores<0>(block, weights, rows, dims, out);
        }
      },
      labels, deleted, count, k, bound, best);
}

template <typename T>
bool TypedArrayOf(const Napi::Value& value, napi_typedarray_type type, T* out) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != type) return false;
  *out = value.As<T>();
  return true;
}

// The hits as scanKnn returns them: labels and distances (negated dot products), nearest first. Empties `best`.
Napi::Object Neighbors(Napi::Env env, const Napi::Float64Array& labels, Hits* best) {
  const size_t n = best->size();
  Napi::Array neighbors = Napi::Array::New(env, n);
  Napi::Array distances = Napi::Array::New(env, n);
  for (size_t i = n; i-- > 0;) {
    neighbors[i] = Napi::Number::New(env, labels[best->top().second]);
    distances[i] = Napi::Number::New(env, -static_cast<double>(best->top().first));
    best->pop();
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("neighbors", neighbors);
  result.Set("distances", distances);
  return result;
}

// scanKnn(codes: Int8Array, labels: Float64Array, deleted: Uint8Array, count, query: Int8Array, k, visibleBelow):
// every one of the first `count` points compared with the query (no graph), the k nearest labels below visibleBelow
// and not deleted, closest first. A point's codes are row i of `codes`, its label labels[i]; deleted[i] is non-zero
// once it is deleted. Distances are those of the graph: the negated dot product.
Napi::Value ScanKnn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "scanKnn(codes: Int8Array, labels: Float64Array, deleted: Uint8Array, count, query: Int8Array, k, visibleBelow)";
  Napi::TypedArrayOf<int8_t> codes, query;
  Napi::Float64Array labels;
  Napi::Uint8Array deleted;
  if (info.Length() < 7 || !TypedArrayOf(info[0], napi_int8_array, &codes) ||
      !TypedArrayOf(info[1], napi_float64_array, &labels) || !TypedArrayOf(info[2], napi_uint8_array, &deleted) ||
      !info[3].IsNumber() || !TypedArrayOf(info[4], napi_int8_array, &query) || !info[5].IsNumber() ||
      !info[6].IsNumber()) {
    Napi::TypeError::New(env, usage).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const double countValue = info[3].As<Napi::Number>().DoubleValue();
  const double kValue = info[5].As<Napi::Number>().DoubleValue();
  const double bound = info[6].As<Napi::Number>().DoubleValue();
  const size_t dims = query.ElementLength();
  if (!(countValue >= 0) || !(kValue >= 0) || dims == 0) {
    Napi::RangeError::New(env, "scanKnn: count and k must be non-negative, the query not empty").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const size_t count = static_cast<size_t>(countValue);
  if (labels.ElementLength() < count || deleted.ElementLength() < count || codes.ElementLength() / dims < count) {
    Napi::RangeError::New(env, "scanKnn: codes, labels and deleted must hold count points").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const size_t k = static_cast<size_t>(std::min(kValue, countValue));
  const double* label = labels.Data();
  const uint8_t* gone = deleted.Data();
  Hits best;
  ScanRows(codes.Data(), label, gone, count, query.Data(), dims, k, bound, &best);
  return Neighbors(env, labels, &best);
}

// scanKnn4(nibbles: Uint8Array, codes: Int8Array, labels: Float64Array, deleted: Uint8Array, count, weights: Int8Array,
//          query: Int8Array, candidates, k, visibleBelow): scanKnn in two passes. The first compares the weights with
// every row of 4-bit codes (half the bytes of the int8 codes) and keeps the best `candidates` rows; the second
// compares the query with those rows' int8 codes and returns the k nearest, with scanKnn's distances.
Napi::Value ScanKnn4(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage =
      "scanKnn4(nibbles: Uint8Array, codes: Int8Array, labels: Float64Array, deleted: Uint8Array, count, weights: "
      "Int8Array, query: Int8Array, candidates, k, visibleBelow)";
  Napi::Uint8Array nibbles, deleted;
  Napi::TypedArrayOf<int8_t> codes, weights, query;
  Napi::Float64Array labels;
  if (info.Length() < 10 || !TypedArrayOf(info[0], napi_uint8_array, &nibbles) ||
      !TypedArrayOf(info[1], napi_int8_array, &codes) || !TypedArrayOf(info[2], napi_float64_array, &labels) ||
      !TypedArrayOf(info[3], napi_uint8_array, &deleted) || !info[4].IsNumber() ||
      !TypedArrayOf(info[5], napi_int8_array, &weights) || !TypedArrayOf(info[6], napi_int8_array, &query) ||
      !info[7].IsNumber() || !info[8].IsNumber() || !info[9].IsNumber()) {
    Napi::TypeError::New(env, usage).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const double countValue = info[4].As<Napi::Number>().DoubleValue();
  const double candidatesValue = info[7].As<Napi::Number>().DoubleValue();
  const double kValue = info[8].As<Napi::Number>().DoubleValue();
  const double bound = info[9].As<Napi::Number>().DoubleValue();
  const size_t dims = query.ElementLength();
  if (!(countValue >= 0) || !(kValue >= 0) || !(candidatesValue >= kValue) || dims == 0 || dims % 2 != 0 ||
      weights.ElementLength() != dims) {
    Napi::RangeError::New(env, "scanKnn4: count, k and candidates >= k must be non-negative, query and weights of the same even length")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const size_t count = static_cast<size_t>(countValue);
  if (labels.ElementLength() < count || deleted.ElementLength() < count || codes.ElementLength() / dims < count ||
      nibbles.ElementLength() / (dims / 2) < count) {
    Napi::RangeError::New(env, "scanKnn4: nibbles, codes, labels and deleted must hold count points")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const size_t k = static_cast<size_t>(std::min(kValue, countValue));
  const size_t candidates = static_cast<size_t>(std::min(candidatesValue, countValue));
  Hits first;
  ScanNibbleRows(nibbles.Data(), labels.Data(), deleted.Data(), count, weights.Data(), dims, candidates, bound, &first);
  // The candidates in row order, as scanKnn meets them, so that ties are settled the same way.
  std::vector<uint32_t> rows;
  rows.reserve(first.size());
  for (; !first.empty(); first.pop()) rows.push_back(first.top().second);
  std::sort(rows.begin(), rows.end());
  const int8_t* code = codes.Data();
  for (const uint32_t row : rows)
    for (size_t line = 0; line < dims; line += 64) __builtin_prefetch(code + static_cast<size_t>(row) * dims + line);
  Hits best;
  for (const uint32_t row : rows) {
    const int32_t score = Int8Dot(code + static_cast<size_t>(row) * dims, query.Data(), dims);
    if (best.size() == k && score <= best.top().first) continue;
    if (best.size() == k) best.pop();
    best.emplace(score, row);
  }
  return Neighbors(env, labels, &best);
}

// The dot product of two vectors of n floats, summed in double precision.
inline double FloatDot(const float* x, const float* y, size_t n) {
  size_t i = 0;
  double sum = 0;
#if defined(__AVX2__) && defined(__FMA__)
  __m256d low = _mm256_setzero_pd();
  __m256d high = _mm256_setzero_pd();
  for (; i + 8 <= n; i += 8) {
    const __m256 a = _mm256_loadu_ps(x + i);
    const __m256 b = _mm256_loadu_ps(y + i);
    low = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(a)), _mm256_cvtps_pd(_mm256_castps256_ps128(b)), low);
    high = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(a, 1)), _mm256_cvtps_pd(_mm256_extractf128_ps(b, 1)),
                           high);
  }
  const __m256d both = _mm256_add_pd(low, high);
  const __m128d pair = _mm_add_pd(_mm256_castpd256_pd128(both), _mm256_extractf128_pd(both, 1));
  sum = _mm_cvtsd_f64(_mm_add_sd(pair, _mm_unpackhi_pd(pair, pair)));
#endif
  for (; i < n; i++) sum += static_cast<double>(x[i]) * static_cast<double>(y[i]);
  return sum;
}

// dotRows(vectors: Float32Array, rows: Int32Array, query: Float32Array, out: Float64Array): out[i] = the dot product
// of the query with row rows[i] of `vectors` (rows of query.length floats) for each i where rows[i] >= 0; the other
// entries of `out` are left as they are. Every row is asked of memory before any is read, so that their cache misses
// overlap: a search re-ranks its candidates this way, rows scattered over tens of megabytes.
Napi::Value DotRows(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Float32Array vectors, query;
  Napi::Int32Array rows;
  Napi::Float64Array out;
  if (info.Length() < 4 || !TypedArrayOf(info[0], napi_float32_array, &vectors) ||
      !TypedArrayOf(info[1], napi_int32_array, &rows) || !TypedArrayOf(info[2], napi_float32_array, &query) ||
      !TypedArrayOf(info[3], napi_float64_array, &out)) {
    Napi::TypeError::New(env, "dotRows(vectors: Float32Array, rows: Int32Array, query: Float32Array, out: Float64Array)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const size_t d = query.ElementLength();
  const size_t n = rows.ElementLength();
  const size_t stored = d > 0 ? vectors.ElementLength() / d : 0;
  const int32_t* row = rows.Data();
  bool inRange = d > 0 && out.ElementLength() >= n;
  for (size_t i = 0; i < n && inRange; i++) inRange = row[i] < 0 || static_cast<size_t>(row[i]) < stored;
  if (!inRange) {
    Napi::RangeError::New(env, "dotRows: the query must not be empty, out must hold a value per row, every row must be stored")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const float* data = vectors.Data();
  for (size_t i = 0; i < n; i++) {
    if (row[i] < 0) continue;
    const char* start = reinterpret_cast<const char*>(data + static_cast<size_t>(row[i]) * d);
    for (size_t byte = 0; byte < d * sizeof(float); byte += 64) __builtin_prefetch(start + byte);
  }
  double* result = out.Data();
  for (size_t i = 0; i < n; i++)
    if (row[i] >= 0) result[i] = FloatDot(data + static_cast<size_t>(row[i]) * d, query.Data(), d);
  return env.Undefined();
}

// Puts the calling thread under SCHED_IDLE (Linux): it then runs only on a core nothing else wants, and the scheduler
// counts a core running only such threads as idle, so it moves a waiting thread there at once. Returns whether it did.
Napi::Value IdleScheduling(const Napi::CallbackInfo& info) {
#ifdef __linux__
  sched_param param{};
  return Napi::Boolean::New(info.Env(), sched_setscheduler(0, SCHED_IDLE, &param) == 0);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("idleScheduling", Napi::Function::New(env, IdleScheduling));
  exports.Set("scanKnn", Napi::Function::New(env, ScanKnn));
  exports.Set("scanKnn4", Napi::Function::New(env, ScanKnn4));
  exports.Set("dotRows", Napi::Function::New(env, DotRows));
  verbatim::InitBm25(env, exports);
  return Int8Graph::Init(env, exports);
}

}  // namespace

NODE_API_MODULE(int8_graph, Init)
