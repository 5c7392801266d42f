// Package appconf reads an app's configuration struct from flags and environment variables (with
// github.com/ardanlabs/conf) and logs it at startup, secrets masked.
package appconf

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/ardanlabs/conf/v3"
)

// Parse fills cfg (a pointer to a struct with conf tags). It returns ok=false when the app should stop:
// with a nil error after printing the help that --help asked for, or with the configuration error.
func Parse(log *slog.Logger, cfg any) (ok bool, err error) {
	if help, err := conf.Parse("", cfg); err != nil {
		if errors.Is(err, conf.ErrHelpWanted) {
			fmt.Println(help)
			return false, nil
		}
		return false, fmt.Errorf("config: %w", err)
	}
	out, err := conf.String(cfg)
	if err != nil {
		return false, fmt.Errorf("config: %w", err)
	}
	log.Info("starting", "config", out)
	return true, nil
}
