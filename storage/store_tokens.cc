// The token table as the store keeps it: staged views for the committer (append.h StagedTokens)
// and committed lookups for authentication (store.h).
#include <mutex>
#include <shared_mutex>

#include "storage/store_impl.h"

namespace eventful::storage {

const TokenRecord* StagedTokens::Local(std::string_view id) const {
  auto it = changes_.find(std::string(id));
  if (it != changes_.end()) return &it->second;
  if (parent_) return parent_->Local(id);
  return committed_.Find(id);
}

std::optional<TokenRecord> StagedTokens::Find(std::string_view id) const {
  const TokenRecord* t = Local(id);
  return t ? std::optional<TokenRecord>(*t) : std::nullopt;
}

std::optional<TokenRecord> StagedTokens::FindBySecretHash(std::string_view secret_hash) const {
  std::optional<TokenRecord> found;
  for (const StagedTokens* v = this; v && !found; v = v->parent_) {
    for (const auto& [id, t] : v->changes_) {
      if (t.secret_hash == secret_hash) found = t;
    }
  }
  if (!found) {
    if (const TokenRecord* t = committed_.FindBySecretHash(secret_hash)) found = *t;
  }
  return found ? Find(found->id) : std::nullopt;  // the newest version of that record
}

std::optional<TokenRecord> StagedTokens::FindAuthKeyByName(std::string_view name) const {
  std::optional<TokenRecord> found;
  for (const StagedTokens* v = this; v && !found; v = v->parent_) {
    for (const auto& [id, t] : v->changes_) {
      if (t.kind == TokenRecord::Kind::kAuthKey && t.name == name) found = t;
    }
  }
  if (!found) {
    if (const TokenRecord* t = committed_.FindAuthKeyByName(name)) found = *t;
  }
  return found ? Find(found->id) : std::nullopt;
}

void StagedTokens::ForEach(const std::function<void(const TokenRecord&)>& fn) const {
  std::unordered_map<std::string, const TokenRecord*> view;
  for (const auto& [id, t] : committed_.all()) view[id] = &t;
  std::vector<const StagedTokens*> chain;
  for (const StagedTokens* v = this; v; v = v->parent_) chain.push_back(v);
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    for (const auto& [id, t] : (*it)->changes_) view[id] = &t;
  }
  for (const auto& [id, t] : view) fn(*t);
}

std::optional<TokenRecord> Store::FindToken(std::string_view id) const {
  std::shared_lock lock(impl_->state_mu_);
  const TokenRecord* t = impl_->tokens_.Find(id);
  return t ? std::optional<TokenRecord>(*t) : std::nullopt;
}

std::optional<TokenRecord> Store::FindTokenBySecretHash(std::string_view secret_hash) const {
  std::shared_lock lock(impl_->state_mu_);
  const TokenRecord* t = impl_->tokens_.FindBySecretHash(secret_hash);
  return t ? std::optional<TokenRecord>(*t) : std::nullopt;
}

std::vector<TokenRecord> Store::ListTokens() const {
  std::shared_lock lock(impl_->state_mu_);
  std::vector<TokenRecord> out;
  out.reserve(impl_->tokens_.all().size());
  for (const auto& [id, t] : impl_->tokens_.all()) out.push_back(t);
  return out;
}

uint64_t Store::TokenGeneration() const {
  std::shared_lock lock(impl_->state_mu_);
  return impl_->token_generation_;
}

}  // namespace eventful::storage
