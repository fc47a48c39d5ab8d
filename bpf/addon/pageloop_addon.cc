// SPDX-License-Identifier: Apache-2.0
//
// pageloop's native addon: thin mechanics over libbpf. It opens, configures,
// loads and attaches a BPF object, reads and writes its maps, and drains a
// ring buffer through libuv (uv_poll on the ring buffer's epoll fd), handing
// JavaScript one Buffer per drain. What to load, attach, target and decode is
// decided in TypeScript (bpf/native.ts is the typed face of this file).
//
// One translation unit (about 740 lines): node-gyp builds one module, and the
// object, ring reader and syscall wrappers share the errno-to-exception helpers.
#include <napi.h>
#include <uv.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

namespace {

std::string ErrnoText(int err) {
  if (err < 0) err = -err;
  return std::string(strerror(err)) + " (errno " + std::to_string(err) + ")";
}

// Throws a JS Error whose `errno` property lets TypeScript tell causes apart.
Napi::Value ThrowErrno(Napi::Env env, const std::string& what, int err) {
  if (err < 0) err = -err;
  Napi::Error e = Napi::Error::New(env, what + ": " + ErrnoText(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowPlain(Napi::Env env, const std::string& what) {
  Napi::Error::New(env, what).ThrowAsJavaScriptException();
  return env.Undefined();
}

int LibbpfQuietPrint(enum libbpf_print_level level, const char* fmt, va_list args) {
  // Warnings and errors go to stderr (the verifier log explains a failed load);
  // debug chatter does not.
  if (level == LIBBPF_DEBUG) return 0;
  if (getenv("PAGELOOP_LIBBPF_QUIET") && level != LIBBPF_WARN) return 0;
  return vfprintf(stderr, fmt, args);
}

// Record framing inside a drained Buffer: u32 length, u32 zero, record bytes,
// padding to 8. Records are produced by the BPF programs with 8-byte sizes.
constexpr size_t kFrameHeader = 8;

class RingReader : public Napi::ObjectWrap<RingReader> {
 public:
  static Napi::FunctionReference constructor;

  static void Init(Napi::Env env) {
    Napi::Function fn = DefineClass(env, "RingReader",
                                    {
                                        InstanceMethod("start", &RingReader::Start),
                                        InstanceMethod("stop", &RingReader::Stop),
                                        InstanceMethod("drainNow", &RingReader::DrainNow),
                                        InstanceMethod("stats", &RingReader::Stats),
                                        InstanceMethod("close", &RingReader::Close),
                                    });
    constructor = Napi::Persistent(fn);
    constructor.SuppressDestruct();
  }

  explicit RingReader(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RingReader>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsFunction() || !info[2].IsNumber()) {
      ThrowPlain(env, "RingReader(mapFd, onBatch, maxBatchBytes)");
      return;
    }
    int fd = info[0].As<Napi::Number>().Int32Value();
    callback_ = Napi::Persistent(info[1].As<Napi::Function>());
    max_batch_bytes_ = static_cast<size_t>(info[2].As<Napi::Number>().Int64Value());
    if (max_batch_bytes_ < 4096) max_batch_bytes_ = 4096;
    batch_.reserve(max_batch_bytes_ + 4096);
    rb_ = ring_buffer__new(fd, &RingReader::OnRecord, this, nullptr);
    if (!rb_) {
      ThrowErrno(env, "ring_buffer__new", errno);
      return;
    }
    async_context_ = new Napi::AsyncContext(env, "pageloop.ringbuf");
  }

  ~RingReader() override { Release(); }

 private:
  static int OnRecord(void* ctx, void* data, size_t size) {
    auto* self = static_cast<RingReader*>(ctx);
    size_t padded = (size + 7) & ~size_t(7);
    size_t at = self->batch_.size();
    self->batch_.resize(at + kFrameHeader + padded);
    uint8_t* out = self->batch_.data() + at;
    uint32_t len32 = static_cast<uint32_t>(size);
    memcpy(out, &len32, 4);
    memset(out + 4, 0, 4);
    memcpy(out + kFrameHeader, data, size);
    if (padded != size) memset(out + kFrameHeader + size, 0, padded - size);
    self->records_++;
    // A full batch stops this consume round; the caller hands it over and goes on.
    return self->batch_.size() >= self->max_batch_bytes_ ? -E2BIG : 0;
  }

  // Consumes until the ring is empty, handing JS one Buffer per full or final batch.
  void ConsumeAll(Napi::Env env) {
    if (!rb_) return;
    for (;;) {
      int n = ring_buffer__consume(rb_);
      bool full = n == -E2BIG;
      if (n < 0 && !full) {
        consume_errors_++;
        break;
      }
      if (!batch_.empty()) {
        Deliver(env);
        if (env.IsExceptionPending()) return;
      }
      if (!full) break;
    }
  }

  void Deliver(Napi::Env env) {
    Napi::Buffer<uint8_t> buf = Napi::Buffer<uint8_t>::Copy(env, batch_.data(), batch_.size());
    drains_++;
    bytes_ += batch_.size();
    batch_.clear();
    callback_.MakeCallback(Value(), {buf}, *async_context_);
  }

  static void OnPoll(uv_poll_t* handle, int status, int events) {
    auto* self = static_cast<RingReader*>(handle->data);
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    if (status < 0) {
      self->consume_errors_++;
      return;
    }
    self->ConsumeAll(env);
  }

  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!rb_) return ThrowPlain(env, "ring reader is closed");
    if (polling_) return env.Undefined();
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    poll_ = new uv_poll_t;
    int err = uv_poll_init(loop, poll_, ring_buffer__epoll_fd(rb_));
    if (err != 0) {
      delete poll_;
      poll_ = nullptr;
      return ThrowPlain(env, std::string("uv_poll_init: ") + uv_strerror(err));
    }
    poll_->data = this;
    uv_poll_start(poll_, UV_READABLE, &RingReader::OnPoll);
    polling_ = true;
    Ref();  // stay alive while libuv holds a pointer to us
    return env.Undefined();
  }

  void StopPolling() {
    if (!polling_) return;
    uv_poll_stop(poll_);
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
    polling_ = false;
    Unref();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    StopPolling();
    return info.Env().Undefined();
  }

  // Synchronous drain, for a final flush on stop.
  Napi::Value DrainNow(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint64_t before = records_;
    ConsumeAll(env);
    return Napi::Number::New(env, static_cast<double>(records_ - before));
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("drains", Napi::Number::New(env, static_cast<double>(drains_)));
    o.Set("records", Napi::Number::New(env, static_cast<double>(records_)));
    o.Set("bytes", Napi::Number::New(env, static_cast<double>(bytes_)));
    o.Set("consumeErrors", Napi::Number::New(env, static_cast<double>(consume_errors_)));
    return o;
  }

  void Release() {
    StopPolling();
    if (rb_) {
      ring_buffer__free(rb_);
      rb_ = nullptr;
    }
    if (async_context_) {
      delete async_context_;
      async_context_ = nullptr;
    }
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Release();
    return info.Env().Undefined();
  }

  struct ring_buffer* rb_ = nullptr;
  uv_poll_t* poll_ = nullptr;
  bool polling_ = false;
  Napi::FunctionReference callback_;
  Napi::AsyncContext* async_context_ = nullptr;
  std::vector<uint8_t> batch_;
  size_t max_batch_bytes_ = 1 << 20;
  uint64_t drains_ = 0, records_ = 0, bytes_ = 0, consume_errors_ = 0;
};

Napi::FunctionReference RingReader::constructor;

class BpfObject : public Napi::ObjectWrap<BpfObject> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function fn = DefineClass(
        env, "BpfObject",
        {
            InstanceMethod("setRodata", &BpfObject::SetRodata),
            InstanceMethod("setAutoload", &BpfObject::SetAutoload),
            InstanceMethod("setMapMaxEntries", &BpfObject::SetMapMaxEntries),
            InstanceMethod("setMapPinPath", &BpfObject::SetMapPinPath),
            InstanceMethod("programs", &BpfObject::Programs),
            InstanceMethod("maps", &BpfObject::Maps),
            InstanceMethod("load", &BpfObject::Load),
            InstanceMethod("attach", &BpfObject::Attach),
            InstanceMethod("attachPerfEvent", &BpfObject::AttachPerfEvent),
            InstanceMethod("detachAll", &BpfObject::DetachAll),
            InstanceMethod("detachLinks", &BpfObject::DetachLinks),
            InstanceMethod("perfCounts", &BpfObject::PerfCounts),
            InstanceMethod("mapFd", &BpfObject::MapFd),
            InstanceMethod("mapLookup", &BpfObject::MapLookup),
            InstanceMethod("mapUpdate", &BpfObject::MapUpdate),
            InstanceMethod("mapDelete", &BpfObject::MapDelete),
            InstanceMethod("mapEntries", &BpfObject::MapEntries),
            InstanceMethod("pinMap", &BpfObject::PinMap),
            InstanceMethod("unpinMap", &BpfObject::UnpinMap),
            InstanceMethod("programStats", &BpfObject::ProgramStats),
            InstanceMethod("close", &BpfObject::Close),
        });
    exports.Set("BpfObject", fn);
  }

  explicit BpfObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BpfObject>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) {
      ThrowPlain(env, "BpfObject(path)");
      return;
    }
    std::string path = info[0].As<Napi::String>();
    obj_ = bpf_object__open_file(path.c_str(), nullptr);
    if (!obj_) {
      int err = errno;
      obj_ = nullptr;
      ThrowErrno(env, "open BPF object " + path, err);
    }
  }

  ~BpfObject() override { Release(); }

 private:
  struct Link {
    std::string program;
    struct bpf_link* link;
    int perf_fd;  // -1 unless the link is on a perf event
    int64_t id;
  };

  bool CheckOpen(Napi::Env env) {
    if (!obj_) {
      ThrowPlain(env, "BPF object is closed");
      return false;
    }
    return true;
  }

  bool CheckNotLoaded(Napi::Env env) {
    if (!CheckOpen(env)) return false;
    if (loaded_) {
      ThrowPlain(env, "BPF object is already loaded; settings must be made before load()");
      return false;
    }
    return true;
  }

  struct bpf_map* FindMap(Napi::Env env, const Napi::Value& v) {
    if (!CheckOpen(env)) return nullptr;
    std::string name = v.As<Napi::String>();
    struct bpf_map* map = bpf_object__find_map_by_name(obj_, name.c_str());
    if (!map) ThrowPlain(env, "no map named '" + name + "' in the BPF object");
    return map;
  }

  struct bpf_program* FindProgram(Napi::Env env, const Napi::Value& v) {
    if (!CheckOpen(env)) return nullptr;
    std::string name = v.As<Napi::String>();
    struct bpf_program* prog = bpf_object__find_program_by_name(obj_, name.c_str());
    if (!prog) ThrowPlain(env, "no program named '" + name + "' in the BPF object");
    return prog;
  }

  // setRodata(name, bytes): writes one `const volatile` variable before load.
  Napi::Value SetRodata(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckNotLoaded(env)) return env.Undefined();
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsBuffer())
      return ThrowPlain(env, "setRodata(name, Buffer)");
    std::string name = info[0].As<Napi::String>();
    auto value = info[1].As<Napi::Buffer<uint8_t>>();
    struct bpf_map* rodata = nullptr;
    struct bpf_map* m;
    bpf_object__for_each_map(m, obj_) {
      const char* n = bpf_map__name(m);
      size_t len = strlen(n);
      if (bpf_map__is_internal(m) && len >= 7 && strcmp(n + len - 7, ".rodata") == 0) rodata = m;
    }
    const struct btf* btf = bpf_object__btf(obj_);
    if (!rodata || !btf) return ThrowPlain(env, "BPF object has no .rodata section or no BTF");
    int sec_id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
    if (sec_id < 0) return ThrowPlain(env, "no .rodata DATASEC in the object's BTF");
    const struct btf_type* sec = btf__type_by_id(btf, sec_id);
    const struct btf_var_secinfo* vsi = btf_var_secinfos(sec);
    for (int i = 0; i < btf_vlen(sec); i++, vsi++) {
      const struct btf_type* var = btf__type_by_id(btf, vsi->type);
      if (name != btf__name_by_offset(btf, var->name_off)) continue;
      if (vsi->size != value.Length())
        return ThrowPlain(env, "rodata '" + name + "' is " + std::to_string(vsi->size) + " bytes, got " +
                                   std::to_string(value.Length()));
      // libbpf 1.1 hands out the image read-only: copy, patch, set back.
      size_t size = 0;
      auto* image = static_cast<const uint8_t*>(bpf_map__initial_value(rodata, &size));
      if (!image || vsi->offset + vsi->size > size) return ThrowPlain(env, "rodata image too small");
      std::vector<uint8_t> patched(image, image + size);
      memcpy(patched.data() + vsi->offset, value.Data(), vsi->size);
      int err = bpf_map__set_initial_value(rodata, patched.data(), patched.size());
      if (err) return ThrowErrno(env, "set rodata", err);
      return env.Undefined();
    }
    return ThrowPlain(env, "no rodata variable named '" + name + "'");
  }

  Napi::Value SetAutoload(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckNotLoaded(env)) return env.Undefined();
    struct bpf_program* prog = FindProgram(env, info[0]);
    if (!prog) return env.Undefined();
    int err = bpf_program__set_autoload(prog, info[1].As<Napi::Boolean>().Value());
    if (err) return ThrowErrno(env, "set_autoload", err);
    return env.Undefined();
  }

  Napi::Value SetMapMaxEntries(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckNotLoaded(env)) return env.Undefined();
    struct bpf_map* map = FindMap(env, info[0]);
    if (!map) return env.Undefined();
    int err = bpf_map__set_max_entries(map, info[1].As<Napi::Number>().Uint32Value());
    if (err) return ThrowErrno(env, "set_max_entries", err);
    return env.Undefined();
  }

  // A pinned map at this path is reused at load; otherwise the new map is pinned there.
  Napi::Value SetMapPinPath(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckNotLoaded(env)) return env.Undefined();
    struct bpf_map* map = FindMap(env, info[0]);
    if (!map) return env.Undefined();
    std::string path = info[1].As<Napi::String>();
    int err = bpf_map__set_pin_path(map, path.c_str());
    if (err) return ThrowErrno(env, "set_pin_path " + path, err);
    return env.Undefined();
  }

  Napi::Value Programs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return env.Undefined();
    Napi::Array out = Napi::Array::New(env);
    struct bpf_program* p;
    uint32_t i = 0;
    bpf_object__for_each_program(p, obj_) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", bpf_program__name(p));
      o.Set("section", bpf_program__section_name(p));
      o.Set("autoload", bpf_program__autoload(p));
      out.Set(i++, o);
    }
    return out;
  }

  Napi::Value Maps(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return env.Undefined();
    Napi::Array out = Napi::Array::New(env);
    struct bpf_map* m;
    uint32_t i = 0;
    bpf_object__for_each_map(m, obj_) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", bpf_map__name(m));
      o.Set("type", static_cast<double>(bpf_map__type(m)));
      o.Set("keySize", static_cast<double>(bpf_map__key_size(m)));
      o.Set("valueSize", static_cast<double>(bpf_map__value_size(m)));
      o.Set("maxEntries", static_cast<double>(bpf_map__max_entries(m)));
      o.Set("fd", static_cast<double>(loaded_ ? bpf_map__fd(m) : -1));
      out.Set(i++, o);
    }
    return out;
  }

  Napi::Value Load(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckNotLoaded(env)) return env.Undefined();
    int err = bpf_object__load(obj_);
    if (err) return ThrowErrno(env, "load BPF object (the verifier's log is above, on stderr)", err);
    loaded_ = true;
    return env.Undefined();
  }

  Napi::Value Attach(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    struct bpf_program* prog = FindProgram(env, info[0]);
    if (!prog) return env.Undefined();
    struct bpf_link* link = bpf_program__attach(prog);
    if (!link) return ThrowErrno(env, std::string("attach ") + bpf_program__name(prog), errno);
    links_.push_back({bpf_program__name(prog), link, -1, next_link_id_++});
    return env.Undefined();
  }

  // Opens one perf event and attaches the program to it; returns the link id or -errno.
  int64_t OpenAndAttach(struct bpf_program* prog, struct perf_event_attr* attr, pid_t pid, int cpu,
                        unsigned long flags) {
    int fd = static_cast<int>(syscall(__NR_perf_event_open, attr, pid, cpu, -1, flags | PERF_FLAG_FD_CLOEXEC));
    if (fd < 0) return -errno;
    struct bpf_link* link = bpf_program__attach_perf_event(prog, fd);
    if (!link) {
      int err = errno;
      close(fd);
      return -err;
    }
    // libbpf owns the perf event fd from here (bpf_link__destroy closes it);
    // it is kept to read the event's count.
    int64_t id = next_link_id_++;
    links_.push_back({bpf_program__name(prog), link, fd, id});
    return id;
  }

  // attachPerfEvent(program, type, config, samplePeriod, scope?): the program on perf
  // events of one kind, counting in the scope the kernel filters by, so that no
  // program runs for anything outside it:
  //   no scope        one event per online CPU, every task;
  //   { cgroupFd }    one event per online CPU, tasks of that cgroup (and below);
  //   { tid }         one event on that thread, inherited by the threads it
  //                   creates (not by the processes it forks).
  // Returns the link ids (for detachLinks and perfCounts).
  Napi::Value AttachPerfEvent(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    struct bpf_program* prog = FindProgram(env, info[0]);
    if (!prog) return env.Undefined();
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.size = sizeof(attr);
    attr.type = info[1].As<Napi::Number>().Uint32Value();
    attr.config = static_cast<uint64_t>(info[2].As<Napi::Number>().Int64Value());
    attr.sample_period = static_cast<uint64_t>(info[3].As<Napi::Number>().Int64Value());
    attr.sample_type = PERF_SAMPLE_ADDR;
    Napi::Array ids = Napi::Array::New(env);
    std::string what = std::string("attach ") + bpf_program__name(prog) + " to a perf event";
    if (info.Length() > 4 && info[4].IsObject()) {
      Napi::Object scope = info[4].As<Napi::Object>();
      if (scope.Has("tid")) {
        attr.inherit = 1;
        attr.inherit_thread = 1;
        int tid = scope.Get("tid").As<Napi::Number>().Int32Value();
        int64_t id = OpenAndAttach(prog, &attr, tid, -1, 0);
        if (id < 0) return ThrowErrno(env, what + " of thread " + std::to_string(tid), static_cast<int>(-id));
        ids.Set(0u, Napi::Number::New(env, static_cast<double>(id)));
        return ids;
      }
      if (!scope.Has("cgroupFd")) return ThrowPlain(env, "attachPerfEvent: scope wants { tid } or { cgroupFd }");
      int cgroup_fd = scope.Get("cgroupFd").As<Napi::Number>().Int32Value();
      return AttachPerCpu(env, prog, &attr, cgroup_fd, PERF_FLAG_PID_CGROUP, what + " of a cgroup");
    }
    return AttachPerCpu(env, prog, &attr, -1, 0, what);
  }

  Napi::Value AttachPerCpu(Napi::Env env, struct bpf_program* prog, struct perf_event_attr* attr, pid_t pid,
                           unsigned long flags, const std::string& what) {
    int ncpus = libbpf_num_possible_cpus();
    if (ncpus < 0) return ThrowErrno(env, "libbpf_num_possible_cpus", ncpus);
    Napi::Array ids = Napi::Array::New(env);
    uint32_t attached = 0;
    for (int cpu = 0; cpu < ncpus; cpu++) {
      int64_t id = OpenAndAttach(prog, attr, pid, cpu, flags);
      if (id == -ENODEV) continue;  // offline CPU
      if (id < 0) {
        for (uint32_t i = 0; i < attached; i++) DestroyLink(static_cast<int64_t>(ids.Get(i).As<Napi::Number>().Int64Value()));
        return ThrowErrno(env, what + " on cpu " + std::to_string(cpu), static_cast<int>(-id));
      }
      ids.Set(attached++, Napi::Number::New(env, static_cast<double>(id)));
    }
    return ids;
  }

  void DestroyLink(int64_t id) {
    for (auto it = links_.begin(); it != links_.end(); ++it) {
      if (it->id != id) continue;
      bpf_link__destroy(it->link);
      links_.erase(it);
      return;
    }
  }

  // detachLinks(ids): detaches those links (perf events are closed with them).
  Napi::Value DetachLinks(const Napi::CallbackInfo& info) {
    Napi::Array ids = info[0].As<Napi::Array>();
    for (uint32_t i = 0; i < ids.Length(); i++) DestroyLink(ids.Get(i).As<Napi::Number>().Int64Value());
    return info.Env().Undefined();
  }

  // perfCounts(ids): each perf event's count so far (with its inherited
  // children's), or -1 for a link that is not a live perf event.
  Napi::Value PerfCounts(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Array ids = info[0].As<Napi::Array>();
    Napi::Array out = Napi::Array::New(env);
    for (uint32_t i = 0; i < ids.Length(); i++) {
      int64_t id = ids.Get(i).As<Napi::Number>().Int64Value();
      double count = -1;
      for (auto& l : links_) {
        uint64_t value = 0;
        if (l.id == id && l.perf_fd >= 0 && read(l.perf_fd, &value, sizeof(value)) == sizeof(value))
          count = static_cast<double>(value);
      }
      out.Set(i, Napi::Number::New(env, count));
    }
    return out;
  }

  void DestroyLinks() {
    for (auto& l : links_) bpf_link__destroy(l.link);
    links_.clear();
  }

  Napi::Value DetachAll(const Napi::CallbackInfo& info) {
    DestroyLinks();
    return info.Env().Undefined();
  }

  int LoadedMapFd(Napi::Env env, const Napi::Value& v, struct bpf_map** out = nullptr) {
    struct bpf_map* map = FindMap(env, v);
    if (!map) return -1;
    if (!loaded_) {
      ThrowPlain(env, "BPF object is not loaded yet");
      return -1;
    }
    if (out) *out = map;
    return bpf_map__fd(map);
  }

  Napi::Value MapFd(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int fd = LoadedMapFd(env, info[0]);
    if (fd < 0) return env.Undefined();
    return Napi::Number::New(env, fd);
  }

  // Per-CPU maps hold one value per possible CPU, each rounded up to 8 bytes.
  static size_t ValueBytes(struct bpf_map* map) {
    size_t vsize = bpf_map__value_size(map);
    switch (bpf_map__type(map)) {
      case BPF_MAP_TYPE_PERCPU_ARRAY:
      case BPF_MAP_TYPE_PERCPU_HASH:
      case BPF_MAP_TYPE_LRU_PERCPU_HASH:
        return ((vsize + 7) & ~size_t(7)) * static_cast<size_t>(libbpf_num_possible_cpus());
      default:
        return vsize;
    }
  }

  Napi::Value MapLookup(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    struct bpf_map* map = nullptr;
    int fd = LoadedMapFd(env, info[0], &map);
    if (fd < 0) return env.Undefined();
    auto key = info[1].As<Napi::Buffer<uint8_t>>();
    if (key.Length() != bpf_map__key_size(map)) return ThrowPlain(env, "key size mismatch");
    std::vector<uint8_t> value(ValueBytes(map));
    if (bpf_map_lookup_elem(fd, key.Data(), value.data()) != 0) {
      if (errno == ENOENT) return env.Null();
      return ThrowErrno(env, "map lookup", errno);
    }
    return Napi::Buffer<uint8_t>::Copy(env, value.data(), value.size());
  }

  Napi::Value MapUpdate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    struct bpf_map* map = nullptr;
    int fd = LoadedMapFd(env, info[0], &map);
    if (fd < 0) return env.Undefined();
    auto key = info[1].As<Napi::Buffer<uint8_t>>();
    auto value = info[2].As<Napi::Buffer<uint8_t>>();
    uint64_t flags = BPF_ANY;
    if (info.Length() > 3) flags = static_cast<uint64_t>(info[3].As<Napi::Number>().Int64Value());
    if (key.Length() != bpf_map__key_size(map)) return ThrowPlain(env, "key size mismatch");
    if (value.Length() != ValueBytes(map)) return ThrowPlain(env, "value size mismatch");
    if (bpf_map_update_elem(fd, key.Data(), value.Data(), flags) != 0) return ThrowErrno(env, "map update", errno);
    return env.Undefined();
  }

  Napi::Value MapDelete(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    struct bpf_map* map = nullptr;
    int fd = LoadedMapFd(env, info[0], &map);
    if (fd < 0) return env.Undefined();
    auto key = info[1].As<Napi::Buffer<uint8_t>>();
    if (key.Length() != bpf_map__key_size(map)) return ThrowPlain(env, "key size mismatch");
    if (bpf_map_delete_elem(fd, key.Data()) != 0) {
      if (errno == ENOENT) return Napi::Boolean::New(env, false);
      return ThrowErrno(env, "map delete", errno);
    }
    return Napi::Boolean::New(env, true);
  }

  // mapEntries(name): { keys, values, count } with keys and values packed back to back.
  Napi::Value MapEntries(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    struct bpf_map* map = nullptr;
    int fd = LoadedMapFd(env, info[0], &map);
    if (fd < 0) return env.Undefined();
    size_t ksize = bpf_map__key_size(map), vsize = ValueBytes(map);
    std::vector<uint8_t> keys, values, key(ksize), next(ksize), value(vsize);
    uint32_t count = 0;
    void* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
      if (bpf_map_lookup_elem(fd, next.data(), value.data()) == 0) {
        keys.insert(keys.end(), next.begin(), next.end());
        values.insert(values.end(), value.begin(), value.end());
        count++;
      }
      key.swap(next);
      prev = key.data();
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("keys", Napi::Buffer<uint8_t>::Copy(env, keys.data(), keys.size()));
    o.Set("values", Napi::Buffer<uint8_t>::Copy(env, values.data(), values.size()));
    o.Set("count", Napi::Number::New(env, count));
    o.Set("keySize", Napi::Number::New(env, static_cast<double>(ksize)));
    o.Set("valueSize", Napi::Number::New(env, static_cast<double>(vsize)));
    return o;
  }

  Napi::Value PinMap(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    struct bpf_map* map = nullptr;
    if (LoadedMapFd(env, info[0], &map) < 0) return env.Undefined();
    std::string path = info[1].As<Napi::String>();
    int err = bpf_map__pin(map, path.c_str());
    if (err) return ThrowErrno(env, "pin map at " + path, err);
    return env.Undefined();
  }

  Napi::Value UnpinMap(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    struct bpf_map* map = nullptr;
    if (LoadedMapFd(env, info[0], &map) < 0) return env.Undefined();
    int err = bpf_map__unpin(map, nullptr);
    if (err && err != -ENOENT) return ThrowErrno(env, "unpin map", err);
    return env.Undefined();
  }

  // Run counts and time per loaded program (time needs kernel.bpf_stats_enabled=1).
  Napi::Value ProgramStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return env.Undefined();
    Napi::Array out = Napi::Array::New(env);
    struct bpf_program* p;
    uint32_t i = 0;
    bpf_object__for_each_program(p, obj_) {
      int fd = bpf_program__fd(p);
      if (fd < 0) continue;
      struct bpf_prog_info pinfo;
      uint32_t len = sizeof(pinfo);
      memset(&pinfo, 0, sizeof(pinfo));
      if (bpf_obj_get_info_by_fd(fd, &pinfo, &len) != 0) continue;
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", bpf_program__name(p));
      o.Set("runCount", static_cast<double>(pinfo.run_cnt));
      o.Set("runTimeNs", static_cast<double>(pinfo.run_time_ns));
      o.Set("recursionMisses", static_cast<double>(pinfo.recursion_misses));
      out.Set(i++, o);
    }
    return out;
  }

  void Release() {
    DestroyLinks();
    if (obj_) {
      bpf_object__close(obj_);
      obj_ = nullptr;
    }
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Release();
    return info.Env().Undefined();
  }

  struct bpf_object* obj_ = nullptr;
  bool loaded_ = false;
  std::vector<Link> links_;
  int64_t next_link_id_ = 1;
};

Napi::Value PossibleCpus(const Napi::CallbackInfo& info) {
  int n = libbpf_num_possible_cpus();
  if (n < 0) return ThrowErrno(info.Env(), "libbpf_num_possible_cpus", n);
  return Napi::Number::New(info.Env(), n);
}

// pinnedMapInfo(path): the layout of the map pinned at path, so that a caller
// can refuse a pin it did not create before libbpf tries to reuse it.
Napi::Value PinnedMapInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>();
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) return ThrowErrno(env, "bpf_obj_get " + path, errno);
  struct bpf_map_info m = {};
  __u32 len = sizeof(m);
  int err = bpf_obj_get_info_by_fd(fd, &m, &len) != 0 ? errno : 0;
  close(fd);
  if (err) return ThrowErrno(env, "bpf_obj_get_info_by_fd " + path, err);
  Napi::Object out = Napi::Object::New(env);
  out.Set("name", Napi::String::New(env, m.name));
  out.Set("type", Napi::Number::New(env, m.type));
  out.Set("keySize", Napi::Number::New(env, m.key_size));
  out.Set("valueSize", Napi::Number::New(env, m.value_size));
  out.Set("maxEntries", Napi::Number::New(env, m.max_entries));
  out.Set("flags", Napi::Number::New(env, m.map_flags));
  return out;
}

// pidfdOpen(pid): a pidfd, so that later calls cannot hit a reused pid.
Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pid = info[0].As<Napi::Number>().Int32Value();
  int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return ThrowErrno(env, "pidfd_open " + std::to_string(pid), errno);
  return Napi::Number::New(env, fd);
}

// processMadvise(pidfd, ranges, advice): ranges is a Buffer of (u64 start, u64 length)
// pairs. Returns the bytes advised; the kernel may stop early, which the caller sees.
Napi::Value ProcessMadvise(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pidfd = info[0].As<Napi::Number>().Int32Value();
  auto ranges = info[1].As<Napi::Buffer<uint8_t>>();
  int advice = info[2].As<Napi::Number>().Int32Value();
  size_t n = ranges.Length() / 16;
  if (n == 0 || n > 1024) return ThrowPlain(env, "processMadvise: 1 to 1024 ranges");
  std::vector<struct iovec> iov(n);
  for (size_t i = 0; i < n; i++) {
    uint64_t start, len;
    memcpy(&start, ranges.Data() + i * 16, 8);
    memcpy(&len, ranges.Data() + i * 16 + 8, 8);
    iov[i].iov_base = reinterpret_cast<void*>(start);
    iov[i].iov_len = len;
  }
  long done = syscall(SYS_process_madvise, pidfd, iov.data(), n, advice, 0);
  if (done < 0) return ThrowErrno(env, "process_madvise", errno);
  return Napi::Number::New(env, static_cast<double>(done));
}

// enableBpfStats(): an fd that keeps kernel.bpf_stats_enabled on (run time and
// count per program) until it is closed, without touching the sysctl's value.
Napi::Value EnableBpfStats(const Napi::CallbackInfo& info) {
  int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (fd < 0) return ThrowErrno(info.Env(), "bpf_enable_stats", errno);
  return Napi::Number::New(info.Env(), fd);
}

// openDirectory(path): an O_RDONLY fd on a directory (a cgroup, for cgroup perf events).
Napi::Value OpenDirectory(const Napi::CallbackInfo& info) {
  std::string path = info[0].As<Napi::String>();
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ThrowErrno(info.Env(), "open " + path, errno);
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  close(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

// CLOCK_BOOTTIME in ns: the clock of the BPF programs' timestamps (bpf_ktime_get_boot_ns).
Napi::Value BootTimeNs(const Napi::CallbackInfo& info) {
  struct timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return Napi::Number::New(info.Env(), static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  libbpf_set_print(LibbpfQuietPrint);
  exports.Set("pinnedMapInfo", Napi::Function::New(env, PinnedMapInfo));
  BpfObject::Init(env, exports);
  RingReader::Init(env);
  exports.Set("RingReader", RingReader::constructor.Value());
  exports.Set("possibleCpus", Napi::Function::New(env, PossibleCpus));
  exports.Set("bootTimeNs", Napi::Function::New(env, BootTimeNs));
  exports.Set("pidfdOpen", Napi::Function::New(env, PidfdOpen));
  exports.Set("processMadvise", Napi::Function::New(env, ProcessMadvise));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd));
  exports.Set("enableBpfStats", Napi::Function::New(env, EnableBpfStats));
  exports.Set("openDirectory", Napi::Function::New(env, OpenDirectory));
  return exports;
}

}  // namespace

NODE_API_MODULE(pageloop_addon, Init)
