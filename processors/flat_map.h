// FlatMap: a few entries by string key, in key order, in one vector. A
// decoded state object (a profile, a customer's alerts) stays in a few
// contiguous blocks that the task's cache keeps between events, where a
// std::map would be a node per entry. Iterates as a std::map.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "core/swar.h"

namespace cx::processors {

template <typename V>
class FlatMap {
 public:
  using value_type = std::pair<std::string, V>;
  using iterator = typename std::vector<value_type>::iterator;
  using const_iterator = typename std::vector<value_type>::const_iterator;

  // The entry of `key`, inserted (value-initialised) when absent.
  V& operator[](std::string_view key) {
    auto it = lower_bound(key);
    if (it == entries_.end() || !swar::Same(it->first, key))
      it = entries_.emplace(it, std::piecewise_construct, std::forward_as_tuple(key),
                            std::forward_as_tuple());
    return it->second;
  }
  // The first entry whose key is not before `key` (in byte order, as
  // std::string compares, eight bytes at a time).
  iterator lower_bound(std::string_view key) {
    return std::lower_bound(entries_.begin(), entries_.end(), key, KeyBefore{});
  }
  // The entry of `key`, or end().
  iterator find(std::string_view key) {
    auto it = lower_bound(key);
    return it != entries_.end() && swar::Same(it->first, key) ? it : entries_.end();
  }
  const_iterator lower_bound(std::string_view key) const {
    return std::lower_bound(entries_.begin(), entries_.end(), key, KeyBefore{});
  }
  const_iterator find(std::string_view key) const {
    auto it = lower_bound(key);
    return it != entries_.end() && swar::Same(it->first, key) ? it : entries_.end();
  }
  // Appends an entry known to sort after every other (decoding).
  void push_back(value_type v) { entries_.push_back(std::move(v)); }

  iterator begin() { return entries_.begin(); }
  iterator end() { return entries_.end(); }
  const_iterator begin() const { return entries_.begin(); }
  const_iterator end() const { return entries_.end(); }
  bool empty() const { return entries_.empty(); }
  std::size_t size() const { return entries_.size(); }
  std::size_t capacity() const { return entries_.capacity(); }
  void reserve(std::size_t n) { entries_.reserve(n); }
  void clear() { entries_.clear(); }
  iterator erase(iterator it) { return entries_.erase(it); }
  iterator erase(iterator first, iterator last) { return entries_.erase(first, last); }

 private:
  struct KeyBefore {
    bool operator()(const value_type& e, std::string_view k) const { return swar::Compare(e.first, k) < 0; }
  };

  std::vector<value_type> entries_;
};

}  // namespace cx::processors
