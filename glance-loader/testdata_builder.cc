#include "glance-loader/testdata_builder.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "glance-loader/hashing.h"
#include "proto/common/status_macros.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace novadock::loader::testing {
namespace {

constexpr time_t kMtime = 1700000000;

struct ArchiveWriteFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

la_ssize_t AppendToString(archive* /*a*/, void* out, const void* data,
                          size_t n) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(data), n);
  return static_cast<la_ssize_t>(n);
}

absl::Status Failed(archive* a, const char* what) {
  return absl::InternalError(
      absl::StrCat("test archive: ", what, ": ", archive_error_string(a)));
}

// A libarchive writer appending to `out`.
absl::StatusOr<std::unique_ptr<archive, ArchiveWriteFree>> OpenWriter(
    std::string* out, bool gzip) {
  std::unique_ptr<archive, ArchiveWriteFree> a(archive_write_new());
  if (archive_write_set_format_pax_restricted(a.get()) != ARCHIVE_OK ||
      (gzip && archive_write_add_filter_gzip(a.get()) != ARCHIVE_OK) ||
      archive_write_set_bytes_in_last_block(a.get(), 1) != ARCHIVE_OK ||
      archive_write_open(a.get(), out, nullptr, AppendToString, nullptr) !=
          ARCHIVE_OK) {
    return Failed(a.get(), "open");
  }
  return a;
}

// Writes one header; the caller writes `size` bytes of data after it.
absl::Status WriteHeader(archive* a, const TarEntry& t, int64_t size) {
  std::unique_ptr<archive_entry, EntryFree> e(archive_entry_new());
  archive_entry_set_pathname(e.get(), t.path.c_str());
  archive_entry_set_mtime(e.get(), kMtime, 0);
  archive_entry_set_perm(e.get(), 0644);
  archive_entry_set_size(e.get(), 0);
  switch (t.type) {
    case TarEntryType::kFile:
      archive_entry_set_filetype(e.get(), AE_IFREG);
      archive_entry_set_size(e.get(), size);
      break;
    case TarEntryType::kDir:
      archive_entry_set_filetype(e.get(), AE_IFDIR);
      archive_entry_set_perm(e.get(), 0755);
      break;
    case TarEntryType::kSymlink:
      archive_entry_set_filetype(e.get(), AE_IFLNK);
      archive_entry_set_symlink(e.get(), t.link_target.c_str());
      break;
    case TarEntryType::kHardlink:
      archive_entry_set_filetype(e.get(), AE_IFREG);
      archive_entry_set_hardlink(e.get(), t.link_target.c_str());
      break;
    case TarEntryType::kFifo:
      archive_entry_set_filetype(e.get(), AE_IFIFO);
      break;
    case TarEntryType::kDevice:
      archive_entry_set_filetype(e.get(), AE_IFCHR);
      archive_entry_set_rdev(e.get(), makedev(1, 3));
      break;
  }
  if (archive_write_header(a, e.get()) != ARCHIVE_OK) {
    return Failed(a, "write header");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Sha256(const std::string& data) {
  return HexDigest(HashAlgorithm::kSha256, data);
}

std::string ConfigJson(const std::vector<std::string>& diff_ids) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("architecture");
  w.String("amd64");
  w.Key("os");
  w.String("linux");
  w.Key("config");
  w.StartObject();
  w.Key("Cmd");
  w.StartArray();
  w.String("/bin/sh");
  w.EndArray();
  w.EndObject();
  w.Key("rootfs");
  w.StartObject();
  w.Key("type");
  w.String("layers");
  w.Key("diff_ids");
  w.StartArray();
  for (const std::string& d : diff_ids) w.String(("sha256:" + d).c_str());
  w.EndArray();
  w.EndObject();
  w.EndObject();
  return buf.GetString();
}

std::string DockerManifestJson(const std::string& config,
                               const std::vector<std::string>& tags,
                               const std::vector<std::string>& layers) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartArray();
  w.StartObject();
  w.Key("Config");
  w.String(config.c_str());
  w.Key("RepoTags");
  w.StartArray();
  for (const std::string& t : tags) w.String(t.c_str());
  w.EndArray();
  w.Key("Layers");
  w.StartArray();
  for (const std::string& l : layers) w.String(l.c_str());
  w.EndArray();
  w.EndObject();
  w.EndArray();
  return buf.GetString();
}

void Descriptor(Writer& w, const char* media_type, const std::string& hex,
                size_t size) {
  w.StartObject();
  w.Key("mediaType");
  w.String(media_type);
  w.Key("digest");
  w.String(("sha256:" + hex).c_str());
  w.Key("size");
  w.Uint64(size);
}

// The layer tars (uncompressed) of `spec`.
absl::StatusOr<std::vector<std::string>> Layers(const ImageSpec& spec) {
  std::vector<std::string> layers;
  for (int i = 0; i < spec.layer_count; ++i) {
    std::string name = absl::StrCat("etc/hello-", i);
    NOVADOCK_ASSIGN_OR_RETURN(
        std::string layer, BuildTar({{"etc/", TarEntryType::kDir, "", ""},
                                     {name, TarEntryType::kFile,
                                      absl::StrCat("hello ", i, "\n"), ""}}));
    layers.push_back(std::move(layer));
  }
  return layers;
}

}  // namespace

absl::StatusOr<std::string> BuildTar(const std::vector<TarEntry>& entries,
                                     bool gzip) {
  std::string out;
  NOVADOCK_ASSIGN_OR_RETURN(auto a, OpenWriter(&out, gzip));
  for (const TarEntry& t : entries) {
    int64_t size = static_cast<int64_t>(t.content.size());
    NOVADOCK_RETURN_IF_ERROR(WriteHeader(a.get(), t, size));
    if (t.type == TarEntryType::kFile && size > 0 &&
        archive_write_data(a.get(), t.content.data(), t.content.size()) !=
            static_cast<la_ssize_t>(t.content.size())) {
      return Failed(a.get(), "write data");
    }
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) {
    return Failed(a.get(), "close");
  }
  return out;
}

absl::StatusOr<TestImage> LegacyImage(const ImageSpec& spec) {
  NOVADOCK_ASSIGN_OR_RETURN(std::vector<std::string> layers, Layers(spec));
  TestImage image;
  std::vector<std::string> diff_ids;
  std::string parent;
  for (const std::string& layer : layers) {
    NOVADOCK_ASSIGN_OR_RETURN(std::string diff_id, Sha256(layer));
    NOVADOCK_ASSIGN_OR_RETURN(std::string id, Sha256(parent + diff_id));
    std::string json = absl::StrCat("{\"id\":\"", id, "\"}");
    image.entries.push_back({id + "/", TarEntryType::kDir, "", ""});
    image.entries.push_back({id + "/VERSION", TarEntryType::kFile, "1.0", ""});
    image.entries.push_back({id + "/json", TarEntryType::kFile, json, ""});
    image.entries.push_back(
        {id + "/layer.tar", TarEntryType::kFile, layer, ""});
    image.layer_paths.push_back(id + "/layer.tar");
    diff_ids.push_back(diff_id);
    parent = id;
  }
  std::string config = ConfigJson(diff_ids);
  NOVADOCK_ASSIGN_OR_RETURN(image.config_hex, Sha256(config));
  image.config_path = image.config_hex + ".json";
  image.entries.push_back({image.config_path, TarEntryType::kFile, config, ""});
  image.entries.push_back(
      {"manifest.json", TarEntryType::kFile,
       DockerManifestJson(image.config_path, spec.repo_tags, image.layer_paths),
       ""});
  image.entries.push_back({"repositories", TarEntryType::kFile, "{}", ""});
  return image;
}

absl::StatusOr<TestImage> OciImage(const ImageSpec& spec,
                                   bool with_docker_manifest) {
  NOVADOCK_ASSIGN_OR_RETURN(std::vector<std::string> layers, Layers(spec));
  TestImage image;
  image.entries.push_back({"blobs/", TarEntryType::kDir, "", ""});
  image.entries.push_back({"blobs/sha256/", TarEntryType::kDir, "", ""});
  std::vector<std::string> hexes;
  for (const std::string& layer : layers) {
    NOVADOCK_ASSIGN_OR_RETURN(std::string hex, Sha256(layer));
    image.layer_paths.push_back("blobs/sha256/" + hex);
    image.entries.push_back(
        {image.layer_paths.back(), TarEntryType::kFile, layer, ""});
    hexes.push_back(hex);
  }
  std::string config = ConfigJson(hexes);
  NOVADOCK_ASSIGN_OR_RETURN(image.config_hex, Sha256(config));
  image.config_path = "blobs/sha256/" + image.config_hex;
  image.entries.push_back({image.config_path, TarEntryType::kFile, config, ""});

  rapidjson::StringBuffer mbuf;
  Writer m(mbuf);
  m.StartObject();
  m.Key("schemaVersion");
  m.Int(2);
  m.Key("config");
  Descriptor(m, "application/vnd.oci.image.config.v1+json", image.config_hex,
             config.size());
  m.EndObject();
  m.Key("layers");
  m.StartArray();
  for (size_t i = 0; i < layers.size(); ++i) {
    Descriptor(m, "application/vnd.oci.image.layer.v1.tar", hexes[i],
               layers[i].size());
    m.EndObject();
  }
  m.EndArray();
  m.EndObject();
  std::string manifest = mbuf.GetString();
  NOVADOCK_ASSIGN_OR_RETURN(std::string manifest_hex, Sha256(manifest));
  image.entries.push_back(
      {"blobs/sha256/" + manifest_hex, TarEntryType::kFile, manifest, ""});

  rapidjson::StringBuffer ibuf;
  Writer x(ibuf);
  x.StartObject();
  x.Key("schemaVersion");
  x.Int(2);
  x.Key("manifests");
  x.StartArray();
  Descriptor(x, "application/vnd.oci.image.manifest.v1+json", manifest_hex,
             manifest.size());
  if (!spec.repo_tags.empty()) {
    x.Key("annotations");
    x.StartObject();
    x.Key("io.containerd.image.name");
    x.String(("docker.io/library/" + spec.repo_tags[0]).c_str());
    x.EndObject();
  }
  x.EndObject();
  x.EndArray();
  x.EndObject();
  image.entries.push_back(
      {"index.json", TarEntryType::kFile, ibuf.GetString(), ""});
  image.entries.push_back({"oci-layout", TarEntryType::kFile,
                           "{\"imageLayoutVersion\":\"1.0.0\"}", ""});
  if (with_docker_manifest) {
    image.entries.push_back(
        {"manifest.json", TarEntryType::kFile,
         DockerManifestJson(image.config_path, spec.repo_tags,
                            image.layer_paths),
         ""});
  }
  return image;
}

int FindEntry(const TestImage& image, const std::string& path) {
  for (size_t i = 0; i < image.entries.size(); ++i) {
    if (image.entries[i].path == path) return static_cast<int>(i);
  }
  return -1;
}

absl::StatusOr<std::vector<BadArchiveCase>> BadArchives() {
  NOVADOCK_ASSIGN_OR_RETURN(TestImage base, LegacyImage());
  const std::string layer = base.layer_paths[0];
  const std::string layer_dir = layer.substr(0, layer.find('/'));
  const int manifest = FindEntry(base, "manifest.json");
  const int config = FindEntry(base, base.config_path);
  std::vector<BadArchiveCase> out;
  // Adds a case: `edit` changes a copy of the base entries.
  auto add = [&](std::string name, std::string reason,
                 auto edit) -> absl::Status {
    std::vector<TarEntry> entries = base.entries;
    edit(entries);
    NOVADOCK_ASSIGN_OR_RETURN(std::string bytes, BuildTar(entries));
    out.push_back({std::move(name), std::move(bytes), std::move(reason)});
    return absl::OkStatus();
  };
  auto append = [](const TarEntry& t) {
    return [t](std::vector<TarEntry>& e) { e.insert(e.begin() + 1, t); };
  };
  auto set_manifest = [manifest](const std::string& json) {
    return [manifest, json](std::vector<TarEntry>& e) {
      e[manifest].content = json;
    };
  };
  auto remove = [](int i) {
    return [i](std::vector<TarEntry>& e) { e.erase(e.begin() + i); };
  };
  const std::string cfg = base.config_path;
  NOVADOCK_RETURN_IF_ERROR(
      add("absolute_path", "absolute path /etc/passwd",
          append({"/etc/passwd", TarEntryType::kFile, "x", ""})));
  NOVADOCK_RETURN_IF_ERROR(
      add("dotdot_path", "path with \"..\": a/../../evil",
          append({"a/../../evil", TarEntryType::kFile, "x", ""})));
  NOVADOCK_RETURN_IF_ERROR(
      add("absolute_symlink", "symlink link -> /etc/passwd: absolute target",
          append({"link", TarEntryType::kSymlink, "", "/etc/passwd"})));
  NOVADOCK_RETURN_IF_ERROR(add(
      "escaping_symlink", "escapes the archive root",
      append({layer_dir + "/up", TarEntryType::kSymlink, "", "../../etc"})));
  NOVADOCK_RETURN_IF_ERROR(add(
      "escaping_symlink_chain", "symlink e -> d/l/..: escapes the archive root",
      [](std::vector<TarEntry>& e) {
        e.insert(e.begin(), {{"d/", TarEntryType::kDir, "", ""},
                             {"d/l", TarEntryType::kSymlink, "", ".."},
                             {"e", TarEntryType::kSymlink, "", "d/l/.."}});
      }));
  NOVADOCK_RETURN_IF_ERROR(
      add("dangling_hardlink", "hardlink h -> nothere: target is not a file",
          append({"h", TarEntryType::kHardlink, "", "nothere"})));
  NOVADOCK_RETURN_IF_ERROR(
      add("device", "device entry dev/null",
          append({"dev/null", TarEntryType::kDevice, "", ""})));
  NOVADOCK_RETURN_IF_ERROR(add("fifo", "fifo entry pipe",
                               append({"pipe", TarEntryType::kFifo, "", ""})));
  NOVADOCK_RETURN_IF_ERROR(
      add("no_manifest", "no manifest.json or index.json", remove(manifest)));
  NOVADOCK_RETURN_IF_ERROR(add("manifest_not_array",
                               "manifest.json is not a JSON array",
                               set_manifest("{\"Config\":\"x\"}")));
  NOVADOCK_RETURN_IF_ERROR(add("manifest_invalid_json",
                               "manifest.json is not valid JSON",
                               set_manifest("[{\"Config\":")));
  NOVADOCK_RETURN_IF_ERROR(
      add("manifest_wrong_types", "manifest.json: Config is not a string",
          set_manifest("[{\"Config\":5,\"RepoTags\":[],\"Layers\":[]}]")));
  NOVADOCK_RETURN_IF_ERROR(
      add("manifest_layers_not_strings",
          "manifest.json: Layers is not an array of strings",
          set_manifest(
              absl::StrCat("[{\"Config\":\"", cfg, "\",\"Layers\":[1]}]"))));
  NOVADOCK_RETURN_IF_ERROR(add(
      "manifest_duplicate_key", "manifest.json has key Config twice",
      set_manifest(absl::StrCat("[{\"Config\":\"", cfg,
                                "\",\"config\":\"other.json\",\"Layers\":[\"",
                                layer, "\"]}]"))));
  NOVADOCK_RETURN_IF_ERROR(
      add("manifest_two_images", "manifest.json lists 2 images",
          set_manifest(absl::StrCat("[{\"Config\":\"", cfg, "\",\"Layers\":[\"",
                                    layer, "\"]},{\"Config\":\"", cfg,
                                    "\",\"Layers\":[\"", layer, "\"]}]"))));
  NOVADOCK_RETURN_IF_ERROR(add("missing_layer",
                               "manifest lists " + layer + ", missing",
                               remove(FindEntry(base, layer))));
  NOVADOCK_RETURN_IF_ERROR(add(
      "missing_config", "manifest lists " + cfg + ", missing", remove(config)));
  NOVADOCK_RETURN_IF_ERROR(
      add("config_digest_mismatch",
          "config " + cfg + ": sha256 of its content is not " + base.config_hex,
          [config](std::vector<TarEntry>& e) { e[config].content += " "; }));
  NOVADOCK_RETURN_IF_ERROR(add(
      "layer_count_mismatch",
      "config " + cfg + " lists 1 layers (rootfs.diff_ids), manifest lists 2",
      set_manifest(DockerManifestJson(cfg, {}, {layer, layer}))));
  NOVADOCK_RETURN_IF_ERROR(
      add("duplicate_manifest", "duplicate entry manifest.json",
          [manifest](std::vector<TarEntry>& e) { e.push_back(e[manifest]); }));
  // Not built from entries: raw bytes.
  out.push_back({"not_tar", std::string(2048, 'x'), "not a valid tar archive"});
  NOVADOCK_ASSIGN_OR_RETURN(std::string valid, BuildTar(base.entries));
  out.push_back({"truncated", valid.substr(0, valid.size() / 2 + 100),
                 "not a valid tar archive"});
  return out;
}

absl::StatusOr<std::string> BuildZeroBomb(int64_t zero_bytes) {
  std::string out;
  NOVADOCK_ASSIGN_OR_RETURN(auto a, OpenWriter(&out, /*gzip=*/true));
  NOVADOCK_RETURN_IF_ERROR(WriteHeader(
      a.get(), {"big/layer.tar", TarEntryType::kFile, "", ""}, zero_bytes));
  const std::string zeros(size_t{64} * 1024, '\0');
  for (int64_t left = zero_bytes; left > 0;) {
    size_t n = static_cast<size_t>(
        std::min<int64_t>(left, static_cast<int64_t>(zeros.size())));
    if (archive_write_data(a.get(), zeros.data(), n) !=
        static_cast<la_ssize_t>(n)) {
      return Failed(a.get(), "write data");
    }
    left -= static_cast<int64_t>(n);
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) {
    return Failed(a.get(), "close");
  }
  return out;
}

}  // namespace novadock::loader::testing
