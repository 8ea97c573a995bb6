#include "loader/pickle.h"

#include <cstring>
#include <set>
#include <unordered_map>

#include "core/error.h"

namespace vllm::pickle {

namespace {

// Globals a weights-only load may name (torch/_weights_only_unpickler.py's allow-list, the part
// that describes tensors and containers).
const std::set<std::string>& allowed_globals() {
  static const std::set<std::string> allowed = {
      "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor",
      "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state", "torch.Size",
      "_codecs.encode", "builtins.set", "builtins.frozenset",
      "torch.FloatStorage", "torch.HalfStorage", "torch.BFloat16Storage", "torch.DoubleStorage",
      "torch.LongStorage", "torch.IntStorage", "torch.ShortStorage", "torch.CharStorage", "torch.ByteStorage",
      "torch.BoolStorage"};
  return allowed;
}

ValuePtr make(Value::Kind kind) {
  auto value = std::make_shared<Value>();
  value->kind = kind;
  return value;
}

class Machine {
 public:
  Machine(std::string_view bytes, std::string where) : bytes_(bytes), where_(std::move(where)) {}

  ValuePtr run() {
    while (true) {
      const unsigned char op = byte();
      switch (op) {
        case 0x80: byte(); break;                     // PROTO
        case 0x95: take(8); break;                    // FRAME
        case '.': return pop();                       // STOP
        case '(': marks_.push_back(stack_.size()); break;  // MARK
        case ')': push(make(Value::Kind::Tuple)); break;
        case ']': push(make(Value::Kind::List)); break;
        case '}': push(make(Value::Kind::Dict)); break;
        case 'N': push(make(Value::Kind::None)); break;
        case 0x88: push(boolean(true)); break;
        case 0x89: push(boolean(false)); break;
        case 'J': push(integer(static_cast<int32_t>(unsigned_le(4)))); break;
        case 'K': push(integer(static_cast<int64_t>(unsigned_le(1)))); break;
        case 'M': push(integer(static_cast<int64_t>(unsigned_le(2)))); break;
        case 0x8a: push(long_integer(unsigned_le(1))); break;  // LONG1
        case 0x8b: push(long_integer(unsigned_le(4))); break;  // LONG4
        case 'G': {                                   // BINFLOAT, big-endian double
          uint64_t bits = 0;
          for (char c : take(8)) bits = bits << 8 | static_cast<unsigned char>(c);
          auto value = make(Value::Kind::Float);
          std::memcpy(&value->number, &bits, 8);
          push(value);
          break;
        }
        case 'X': push(text(Value::Kind::String, unsigned_le(4))); break;     // BINUNICODE
        case 0x8c: push(text(Value::Kind::String, unsigned_le(1))); break;    // SHORT_BINUNICODE
        case 0x8d: push(text(Value::Kind::String, unsigned_le(8))); break;    // BINUNICODE8
        case 'T': push(text(Value::Kind::String, unsigned_le(4))); break;     // BINSTRING
        case 'U': push(text(Value::Kind::String, unsigned_le(1))); break;     // SHORT_BINSTRING
        case 'B': push(text(Value::Kind::Bytes, unsigned_le(4))); break;      // BINBYTES
        case 'C': push(text(Value::Kind::Bytes, unsigned_le(1))); break;      // SHORT_BINBYTES
        case 0x8e: push(text(Value::Kind::Bytes, unsigned_le(8))); break;     // BINBYTES8
        case 0x96: push(text(Value::Kind::Bytes, unsigned_le(8))); break;     // BYTEARRAY8
        case 't': push(collect(Value::Kind::Tuple, pop_mark())); break;
        case 0x85: push(collect(Value::Kind::Tuple, pop_n(1))); break;
        case 0x86: push(collect(Value::Kind::Tuple, pop_n(2))); break;
        case 0x87: push(collect(Value::Kind::Tuple, pop_n(3))); break;
        case 'l': push(collect(Value::Kind::List, pop_mark())); break;
        case 'd': push(collect(Value::Kind::Dict, pop_mark())); break;
        case 0x8f: push(make(Value::Kind::List)); break;  // EMPTY_SET, kept as a list
        case 'a': append(top_under(1), {pop()}); break;   // APPEND
        case 'e': case 0x90: {                            // APPENDS, ADDITEMS
          std::vector<ValuePtr> items = pop_mark();
          append(top(), items);
          break;
        }
        case 0x91: push(collect(Value::Kind::List, pop_mark())); break;  // FROZENSET
        case 's': {                                                       // SETITEM
          ValuePtr value = pop(), key = pop();
          set_items(top(), {key, value});
          break;
        }
        case 'u': {                                                       // SETITEMS
          std::vector<ValuePtr> items = pop_mark();
          set_items(top(), items);
          break;
        }
        case 'q': memo_[unsigned_le(1)] = top(); break;  // BINPUT
        case 'r': memo_[unsigned_le(4)] = top(); break;  // LONG_BINPUT
        case 0x94: memo_[memo_.size()] = top(); break;    // MEMOIZE
        case 'h': push(memo(unsigned_le(1))); break;      // BINGET
        case 'j': push(memo(unsigned_le(4))); break;      // LONG_BINGET
        case '0': pop(); break;                           // POP
        case '1': pop_mark(); break;                      // POP_MARK
        case '2': push(top()); break;                     // DUP
        case 'c': {                                       // GLOBAL "module\nname\n"
          std::string module = line(), name = line();
          push(global(module, name));
          break;
        }
        case 0x93: {                                      // STACK_GLOBAL
          ValuePtr name = pop(), module = pop();
          push(global(module->text, name->text));
          break;
        }
        case 'R': {                                       // REDUCE
          ValuePtr args = pop(), callable = pop();
          push(call(callable, args));
          break;
        }
        case 0x81: {                                      // NEWOBJ
          ValuePtr args = pop(), cls = pop();
          push(call(cls, args));
          break;
        }
        case 'b': pop(); break;                           // BUILD: state of a rebuilt object, not needed
        case 'Q': push(persistent(pop())); break;         // BINPERSID
        default:
          bad("unsupported pickle opcode 0x", hex(op), " at byte ", position_ - 1,
              " (not a PyTorch checkpoint, or an object a weights-only load refuses)");
      }
    }
  }

 private:
  template <typename... Args>
  [[noreturn]] void bad(const Args&... args) const {
    fail(ErrorKind::InvalidArgument, where_, ": ", args...);
  }
  static std::string hex(unsigned value) {
    static const char* digits = "0123456789abcdef";
    return std::string{digits[value >> 4], digits[value & 15]};
  }

  unsigned char byte() {
    if (position_ >= bytes_.size()) bad("pickle ends without a STOP opcode (truncated?)");
    return static_cast<unsigned char>(bytes_[position_++]);
  }
  std::string_view take(uint64_t count) {
    if (count > bytes_.size() - position_) bad("pickle ends inside a value (truncated?)");
    std::string_view out = bytes_.substr(position_, count);
    position_ += count;
    return out;
  }
  uint64_t unsigned_le(int count) {
    uint64_t value = 0;
    std::string_view raw = take(count);
    for (int i = count - 1; i >= 0; --i) value = value << 8 | static_cast<unsigned char>(raw[i]);
    return value;
  }
  std::string line() {
    size_t end = bytes_.find('\n', position_);
    if (end == std::string_view::npos) bad("pickle ends inside a GLOBAL opcode");
    std::string out(bytes_.substr(position_, end - position_));
    position_ = end + 1;
    return out;
  }

  ValuePtr boolean(bool value) {
    auto out = make(Value::Kind::Bool);
    out->integer = value;
    return out;
  }
  ValuePtr integer(int64_t value) {
    auto out = make(Value::Kind::Int);
    out->integer = value;
    return out;
  }
  ValuePtr long_integer(uint64_t length) {  // little-endian two's complement
    if (length > 8) bad("integer of ", length, " bytes is too large");
    std::string_view raw = take(length);
    uint64_t value = 0;
    for (int i = static_cast<int>(length) - 1; i >= 0; --i) value = value << 8 | static_cast<unsigned char>(raw[i]);
    if (length > 0 && length < 8 && (static_cast<unsigned char>(raw[length - 1]) & 0x80)) value |= ~uint64_t{0} << (8 * length);
    return integer(static_cast<int64_t>(value));
  }
  ValuePtr text(Value::Kind kind, uint64_t length) {
    auto out = make(kind);
    out->text = std::string(take(length));
    return out;
  }

  void push(ValuePtr value) { stack_.push_back(std::move(value)); }
  ValuePtr pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() == marks_.back())) bad("pickle stack underflow");
    ValuePtr value = stack_.back();
    stack_.pop_back();
    return value;
  }
  ValuePtr top() {
    if (stack_.empty()) bad("pickle stack underflow");
    return stack_.back();
  }
  ValuePtr top_under(size_t depth) {
    if (stack_.size() <= depth) bad("pickle stack underflow");
    return stack_[stack_.size() - 1 - depth];
  }
  std::vector<ValuePtr> pop_n(size_t count) {
    if (stack_.size() < count) bad("pickle stack underflow");
    std::vector<ValuePtr> out(stack_.end() - static_cast<std::ptrdiff_t>(count), stack_.end());
    stack_.resize(stack_.size() - count);
    return out;
  }
  std::vector<ValuePtr> pop_mark() {
    if (marks_.empty()) bad("pickle has no MARK to pop to");
    const size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<ValuePtr> out(stack_.begin() + static_cast<std::ptrdiff_t>(mark), stack_.end());
    stack_.resize(mark);
    return out;
  }
  ValuePtr memo(uint64_t key) {
    auto it = memo_.find(key);
    if (it == memo_.end()) bad("pickle refers to memo entry ", key, ", which was never stored");
    return it->second;
  }

  static ValuePtr collect(Value::Kind kind, std::vector<ValuePtr> items) {
    auto out = make(kind);
    out->items = std::move(items);
    return out;
  }
  void append(const ValuePtr& list, const std::vector<ValuePtr>& items) {
    if (list->kind != Value::Kind::List) bad("APPEND to a value that is not a list");
    list->items.insert(list->items.end(), items.begin(), items.end());
  }
  void set_items(const ValuePtr& dict, const std::vector<ValuePtr>& items) {
    if (dict->kind != Value::Kind::Dict || items.size() % 2) bad("SETITEM on a value that is not a dict");
    dict->items.insert(dict->items.end(), items.begin(), items.end());
  }

  ValuePtr global(const std::string& module, const std::string& name) {
    const std::string full = module + "." + name;
    if (!allowed_globals().count(full))
      bad("refuses to load the global '", full,
          "': only tensors and plain containers are unpickled (as torch.load(weights_only=True)); "
          "if the file is trusted, convert it to safetensors with PyTorch");
    auto out = make(Value::Kind::Global);
    out->text = full;
    return out;
  }

  // ('storage', torch.FloatStorage, key, location, numel)
  ValuePtr persistent(const ValuePtr& id) {
    if (id->kind != Value::Kind::Tuple || id->items.size() < 5 || id->items[0]->text != "storage" ||
        id->items[1]->kind != Value::Kind::Global || id->items[2]->kind != Value::Kind::String)
      bad("unknown persistent id (not a PyTorch storage reference)");
    auto out = make(Value::Kind::Storage);
    out->text = id->items[1]->text.substr(id->items[1]->text.rfind('.') + 1);
    out->storage_key = id->items[2]->text;
    out->storage_numel = id->items[4]->integer;
    return out;
  }

  std::vector<int64_t> ints(const ValuePtr& tuple, const char* what) {
    if (tuple->kind != Value::Kind::Tuple && tuple->kind != Value::Kind::List) bad("tensor ", what, " is not a tuple");
    std::vector<int64_t> out;
    for (const ValuePtr& item : tuple->items) {
      if (item->kind != Value::Kind::Int) bad("tensor ", what, " holds a value that is not an integer");
      out.push_back(item->integer);
    }
    return out;
  }

  ValuePtr call(const ValuePtr& callable, const ValuePtr& args) {
    if (callable->kind != Value::Kind::Global) bad("calls a value that is not an allowed global");
    const std::string& name = callable->text;
    const std::vector<ValuePtr>& a = args->items;
    if (name == "collections.OrderedDict") return make(Value::Kind::Dict);
    if (name == "torch.Size" || name == "builtins.set" || name == "builtins.frozenset")
      return a.empty() ? make(Value::Kind::Tuple) : collect(Value::Kind::Tuple, a[0]->items);
    if (name == "_codecs.encode") {  // bytes under protocol 2: _codecs.encode(text, "latin1")
      if (a.empty() || a[0]->kind != Value::Kind::String) bad("_codecs.encode without a string");
      auto out = make(Value::Kind::Bytes);
      for (size_t i = 0; i < a[0]->text.size();) {  // UTF-8 code points below 256 -> bytes
        unsigned char c = static_cast<unsigned char>(a[0]->text[i]);
        if (c < 0x80) out->text += static_cast<char>(c), i += 1;
        else out->text += static_cast<char>(((c & 0x03) << 6) | (a[0]->text[i + 1] & 0x3f)), i += 2;
      }
      return out;
    }
    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
      if (a.size() < 4 || a[0]->kind != Value::Kind::Storage || a[1]->kind != Value::Kind::Int)
        bad(name, " called without (storage, offset, size, stride)");
      auto out = make(Value::Kind::Tensor);
      out->storage = a[0];
      out->storage_offset = a[1]->integer;
      out->size = ints(a[2], "size");
      out->stride = ints(a[3], "stride");
      if (out->size.size() != out->stride.size()) bad("tensor size and stride differ in length");
      return out;
    }
    if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state") {
      if (a.empty() || a[0]->kind != Value::Kind::Tensor) bad(name, " called without a tensor");
      return a[0];
    }
    bad("'", name, "' is not callable in a weights-only load");
  }

  std::string_view bytes_;
  std::string where_;
  size_t position_ = 0;
  std::vector<ValuePtr> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, ValuePtr> memo_;
};

}  // namespace

ValuePtr unpickle(std::string_view bytes, const std::string& where) { return Machine(bytes, where).run(); }

}  // namespace vllm::pickle
