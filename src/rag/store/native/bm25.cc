// BM25 over the lexical index's posting lists (src/rag/store/lexical.ts), the same sums as its JavaScript loop: each
// list adds weight · tf / (tf + norm) to the scores of its slots, in double precision, stored as float, list after
// list. Slots are scored one block at a time so that the block's scores stay in the cache; a bit per slot marks the
// slots the block's postings reached, and only those are read back and reset, with no branch per posting on whether
// a slot was reached before (the JavaScript loop's test of a slot's score against 0 is mispredicted most of the time).
#include "bm25.h"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace verbatim {
namespace {

struct Hit {
  float score;
  int32_t label;
};

// Whether `a` ranks above `b`: a higher score, or the same score and a lower label (ties do not depend on order).
inline bool Above(const Hit& a, const Hit& b) { return a.score > b.score || (a.score == b.score && a.label < b.label); }

struct List {
  const int32_t* slots;
  const uint16_t* tfs;
  size_t length;
  double weight;
  size_t cursor;
};

// Keeps `hit` if it ranks among the k best so far; `floor` becomes the weakest kept score once k are kept.
__attribute__((noinline)) void Offer(std::vector<Hit>* heap, size_t k, const Hit& hit, float* floor) {
  if (heap->size() == k) {
    if (!Above(hit, heap->front())) return;
    std::pop_heap(heap->begin(), heap->end(), Above);
    heap->back() = hit;
  } else {
    heap->push_back(hit);
  }
  std::push_heap(heap->begin(), heap->end(), Above);
  if (heap->size() == k) *floor = heap->front().score;
}

// The k best slots' labels and scores, best first.
std::vector<Hit> TopK(std::vector<List>* lists, const float* norms, const uint8_t* alive, const int32_t* labels,
                      size_t slotCount, size_t block, size_t k) {
  // The block's scores, and a bit per slot the block's postings reached: read back by the set bits only, and reset.
  thread_local std::vector<float> scores;
  thread_local std::vector<uint64_t> reached;
  if (scores.size() < block) scores.assign(block, 0.0f);
  if (reached.size() < (block + 63) / 64) reached.assign((block + 63) / 64, 0);
  float* blockScores = scores.data();
  uint64_t* blockReached = reached.data();
  std::vector<Hit> heap;  // the weakest hit on top (std's heap puts the "largest" first)
  heap.reserve(k + 1);
  float floor = 0;
  for (size_t start = 0; start < slotCount && k > 0; start += block) {
    const size_t end = std::min(start + block, slotCount);
    for (List& list : *lists) {
      size_t i = list.cursor;
      for (; i < list.length; i++) {
        const uint32_t slot = static_cast<uint32_t>(list.slots[i]);  // a negative slot ends the list
        if (slot >= end) break;
        if (alive[slot] != 1) continue;
        const double tf = list.tfs[i];
        const size_t at = slot - start;
        blockScores[at] = static_cast<float>(static_cast<double>(blockScores[at]) +
                                             (list.weight * tf) / (tf + static_cast<double>(norms[slot])));
        blockReached[at >> 6] |= uint64_t{1} << (at & 63);
      }
      list.cursor = i;
    }
    for (size_t word = 0; word < (end - start + 63) / 64; word++) {
      for (uint64_t bits = blockReached[word]; bits != 0; bits &= bits - 1) {
        const size_t at = word * 64 + static_cast<size_t>(__builtin_ctzll(bits));
        const float score = blockScores[at];
        blockScores[at] = 0;
        if (score >= floor) Offer(&heap, k, Hit{score, labels[start + at]}, &floor);
      }
      blockReached[word] = 0;
    }
  }
  std::sort_heap(heap.begin(), heap.end(), Above);
  return heap;
}

template <typename T>
bool TypedArrayOf(const Napi::Value& value, napi_typedarray_type type, T* out) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != type) return false;
  *out = value.As<T>();
  return true;
}

// bm25TopK(slots: Int32Array[], tfs: Uint16Array[], lengths: Int32Array, weights: Float64Array, norms: Float32Array,
//          alive: Uint8Array, labels: Int32Array, slotCount, block, k): { labels: number[], scores: number[] }
Napi::Value Bm25TopK(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto fail = [&](const char* message) {
    Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
    return env.Undefined();
  };
  Napi::Int32Array lengths, labels;
  Napi::Float64Array weights;
  Napi::Float32Array norms;
  Napi::Uint8Array alive;
  if (info.Length() < 10 || !info[0].IsArray() || !info[1].IsArray() ||
      !TypedArrayOf(info[2], napi_int32_array, &lengths) || !TypedArrayOf(info[3], napi_float64_array, &weights) ||
      !TypedArrayOf(info[4], napi_float32_array, &norms) || !TypedArrayOf(info[5], napi_uint8_array, &alive) ||
      !TypedArrayOf(info[6], napi_int32_array, &labels) || !info[7].IsNumber() || !info[8].IsNumber() ||
      !info[9].IsNumber())
    return fail(
        "bm25TopK(slots: Int32Array[], tfs: Uint16Array[], lengths: Int32Array, weights: Float64Array, norms: "
        "Float32Array, alive: Uint8Array, labels: Int32Array, slotCount, block, k)");
  const double slotCountValue = info[7].As<Napi::Number>().DoubleValue();
  const double blockValue = info[8].As<Napi::Number>().DoubleValue();
  const double kValue = info[9].As<Napi::Number>().DoubleValue();
  if (!(slotCountValue >= 0 && slotCountValue <= 2147483647.0) || !(blockValue >= 1 && blockValue <= 16777216.0) ||
      !(kValue >= 0))
    return fail("bm25TopK: slotCount and k must be non-negative, block between 1 and 2^24");
  const size_t slotCount = static_cast<size_t>(slotCountValue);
  if (norms.ElementLength() < slotCount || alive.ElementLength() < slotCount || labels.ElementLength() < slotCount)
    return fail("bm25TopK: norms, alive and labels must hold slotCount slots");
  Napi::Array slotLists = info[0].As<Napi::Array>();
  Napi::Array tfLists = info[1].As<Napi::Array>();
  const size_t count = slotLists.Length();
  if (tfLists.Length() != count || lengths.ElementLength() != count || weights.ElementLength() != count)
    return fail("bm25TopK: slots, tfs, lengths and weights must have one entry per list");
  std::vector<List> lists;
  lists.reserve(count);
  for (uint32_t l = 0; l < count; l++) {
    Napi::Int32Array slots;
    Napi::Uint16Array tfs;
    if (!TypedArrayOf(slotLists.Get(l), napi_int32_array, &slots) ||
        !TypedArrayOf(tfLists.Get(l), napi_uint16_array, &tfs))
      return fail("bm25TopK: each list is an Int32Array of slots and a Uint16Array of term frequencies");
    const int32_t length = lengths[l];
    if (length < 0 || static_cast<size_t>(length) > slots.ElementLength() ||
        static_cast<size_t>(length) > tfs.ElementLength())
      return fail("bm25TopK: a list is shorter than its length");
    lists.push_back(List{slots.Data(), tfs.Data(), static_cast<size_t>(length), weights[l], 0});
  }
  const std::vector<Hit> best = TopK(&lists, norms.Data(), alive.Data(), labels.Data(), slotCount,
                                     static_cast<size_t>(blockValue), static_cast<size_t>(std::min(kValue, slotCountValue)));
  Napi::Array labelsOut = Napi::Array::New(env, best.size());
  Napi::Array scoresOut = Napi::Array::New(env, best.size());
  for (uint32_t i = 0; i < best.size(); i++) {
    labelsOut[i] = Napi::Number::New(env, best[i].label);
    scoresOut[i] = Napi::Number::New(env, best[i].score);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("labels", labelsOut);
  result.Set("scores", scoresOut);
  return result;
}

}  // namespace

void InitBm25(Napi::Env env, Napi::Object exports) { exports.Set("bm25TopK", Napi::Function::New(env, Bm25TopK)); }

}  // namespace verbatim
