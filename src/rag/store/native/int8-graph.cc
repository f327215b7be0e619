// An hnsw graph of 8-bit integer codes, built on hnswlib's headers (those hnswlib-node ships): a projected graph's
// points quantized to int8 take a quarter of the memory of float32 ones, so two 50k-point graphs built at once fit
// in a 32 MB L3 cache together. The distance is the negated integer dot product, an inner-product space.
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "hnswlib/hnswlib.h"

namespace {

float Int8InnerProductDistance(const void* a, const void* b, const void* param) {
  const int8_t* x = static_cast<const int8_t*>(a);
  const int8_t* y = static_cast<const int8_t*>(b);
  const size_t n = *static_cast<const size_t*>(param);
  int32_t sum = 0;
  for (size_t i = 0; i < n; i++) sum += static_cast<int32_t>(x[i]) * static_cast<int32_t>(y[i]);
  return -static_cast<float>(sum);
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

Napi::Object Init(Napi::Env env, Napi::Object exports) { return Int8Graph::Init(env, exports); }

}  // namespace

NODE_API_MODULE(int8_graph, Init)
