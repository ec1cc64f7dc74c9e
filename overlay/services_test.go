package overlay

import (
	"path/filepath"
	"reflect"
	"testing"
)

func TestServiceConfigSurvivesWriteAndLoad(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Services = []ServiceConfig{
		{Name: "acme/api", Target: "127.0.0.1:9000", Proto: "http", Check: "http:/health", Weight: 2, Tags: map[string]string{"zone": "eu-1", "tier": "gold"}},
		{Name: "acme/db", Target: "127.0.0.1:5432", Proto: "tcp"},
	}
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := WriteConfig(path, cfg); err != nil {
		t.Fatal(err)
	}
	back, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Services, cfg.Services) {
		t.Fatalf("services after write and load:\n%+v\nwant\n%+v", back.Services, cfg.Services)
	}
}
