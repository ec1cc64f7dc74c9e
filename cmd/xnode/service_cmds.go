package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/api"
	"github.com/xnode/xnode/service"
)

// newServiceCmd is `xnode service`: expose, discover and call services.
func newServiceCmd(g *globals) *cobra.Command {
	svc := &cobra.Command{Use: "service", Short: "Services: expose a local target under NAMESPACE/SERVICE, list and call services across the network"}
	svc.AddCommand(newServiceExposeCmd(g), newServiceUnexposeCmd(g), newServiceLsCmd(g),
		newServiceInstancesCmd(g), newServiceCallCmd(g), newServiceForwardCmd(g))
	return svc
}

func checkServiceName(s string) error {
	if _, _, err := service.ParseName(s); err != nil {
		return usagef("service %q: want NAMESPACE/SERVICE (letters, digits, '-', '_', '.')", s)
	}
	return nil
}

func newServiceExposeCmd(g *globals) *cobra.Command {
	var req api.ExposeRequest
	var tags []string
	cmd := &cobra.Command{
		Use:   "expose NAMESPACE/SERVICE --target HOST:PORT [--proto http|tcp] [--tag k=v]... [--check http:/path|tcp] [--weight N]",
		Short: "Announce an instance of a service served by a local target (returns at once)",
		Args:  exactArgs(1, "one NAMESPACE/SERVICE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkServiceName(args[0]); err != nil {
				return err
			}
			if req.Target == "" {
				return usagef("--target HOST:PORT is required")
			}
			req.Service = args[0]
			if len(tags) > 0 {
				m, err := service.ParseTags(strings.Join(tags, ","))
				if err != nil {
					return usagef("--tag: %v", err)
				}
				req.Tags = m
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			if err := c.Expose(cmd.Context(), req); err != nil {
				if errors.Is(err, xnode.ErrConflict) {
					return fmt.Errorf("%w\nthe namespace's owner allows a node with 'xnode ns allow NAMESPACE PEER_ID'", err)
				}
				return g.explain(err)
			}
			if g.json {
				return printJSON(g.out, req)
			}
			fmt.Fprintf(g.out, "exposing %s -> %s (%s)\n", req.Service, req.Target, orDefault(req.Proto, "http"))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Target, "target", "", "HOST:PORT of the local service")
	f.StringVar(&req.Proto, "proto", "http", "http or tcp")
	f.StringArrayVar(&tags, "tag", nil, "k=v tag of the instance (repeatable); zone=... drives zone preference")
	f.StringVar(&req.Check, "check", "", "health check: tcp (default), http:/path or none")
	f.IntVar(&req.Weight, "weight", 1, "the instance's weight")
	return cmd
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func newServiceUnexposeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "unexpose NAMESPACE/SERVICE",
		Short: "Stop announcing this node's instance of a service",
		Args:  exactArgs(1, "one NAMESPACE/SERVICE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkServiceName(args[0]); err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			if err := c.Unexpose(cmd.Context(), args[0]); err != nil {
				return g.explain(err)
			}
			fmt.Fprintf(g.out, "no longer exposing %s\n", args[0])
			return nil
		},
	}
}

func newServiceLsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List the services this node knows, with their instances",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(g, cmd.Context(), (*api.Client).Services, func(tw *tabwriter.Writer, ans api.ServiceCatalogAnswer) {
				fmt.Fprintf(tw, "SERVICE\tINSTANCES\tHEALTHY\tEJECTED\n")
				now := time.Now()
				for _, s := range ans.Services {
					healthy, ejected := 0, 0
					for _, in := range s.Instances {
						if in.Healthy {
							healthy++
						}
						if in.EjectedUntil.After(now) {
							ejected++
						}
					}
					fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", s.Name, len(s.Instances), healthy, ejected)
				}
				for _, e := range ans.Exposed {
					fmt.Fprintf(tw, "exposed here: %s -> %s\t\t\t\n", e.Service, e.Target)
				}
				for _, f := range ans.Forwards {
					fmt.Fprintf(tw, "forwarded here: %s -> %s\t\t\t\n", f.Listen, f.Service)
				}
			})
		},
	}
}

func newServiceInstancesCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "instances NAMESPACE/SERVICE",
		Short: "Show a service's instances: peer, tags, health, EWMA latency, in-flight, ejected until",
		Args:  exactArgs(1, "one NAMESPACE/SERVICE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkServiceName(args[0]); err != nil {
				return err
			}
			fetch := func(c *api.Client, ctx context.Context) (api.ServiceEntry, error) {
				return c.ServiceInstances(ctx, args[0])
			}
			return show(g, cmd.Context(), fetch, func(tw *tabwriter.Writer, e api.ServiceEntry) {
				fmt.Fprintf(tw, "PEER\tID\tPROTO\tTAGS\tHEALTHY\tEWMA\tIN-FLIGHT\tREQUESTS\tFAILURES\tEJECTED UNTIL\n")
				for _, in := range e.Instances {
					ej := "-"
					if !in.EjectedUntil.IsZero() {
						ej = in.EjectedUntil.Local().Format(time.TimeOnly)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", in.Peer, in.ID, in.Proto, tagString(in.Tags),
						yesNo(in.Healthy), in.Latency.Round(10*time.Microsecond), in.InFlight, in.Requests, in.Failures, ej)
				}
			})
		},
	}
}

func tagString(m map[string]string) string {
	if len(m) == 0 {
		return "-"
	}
	var kv []string
	for k, v := range m {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

func newServiceCallCmd(g *globals) *cobra.Command {
	var method, data, tags string
	cmd := &cobra.Command{
		Use:   "call NAMESPACE/SERVICE [PATH] [-X METHOD] [-d DATA] [--tags k=v,...]",
		Short: "Call an HTTP service through this node's gateway and print the answer",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkServiceName(args[0]); err != nil {
				return err
			}
			path := ""
			if len(args) == 2 {
				path = args[1]
			}
			if tags != "" {
				if _, err := service.ParseTags(tags); err != nil {
					return usagef("--tags: %v", err)
				}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			var body io.Reader
			if data != "" {
				body = strings.NewReader(data)
			}
			hdr := http.Header{}
			if tags != "" {
				hdr.Set("X-Xnode-Tags", tags)
			}
			resp, err := c.CallService(cmd.Context(), strings.ToUpper(method), args[0], path, body, hdr)
			if err != nil {
				return g.explain(err)
			}
			defer resp.Body.Close()
			if _, err := io.Copy(g.out, resp.Body); err != nil {
				return fmt.Errorf("the answer broke off: %w", err)
			}
			if resp.StatusCode >= 400 {
				return fmt.Errorf("the service answered %s", resp.Status)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&method, "request", "X", "GET", "HTTP method")
	cmd.Flags().StringVarP(&data, "data", "d", "", "request body")
	cmd.Flags().StringVar(&tags, "tags", "", "tag filter k=v,k2=v2 (X-Xnode-Tags)")
	return cmd
}

func newServiceForwardCmd(g *globals) *cobra.Command {
	var listen, tags string
	var closeIt bool
	cmd := &cobra.Command{
		Use:   "forward NAMESPACE/SERVICE --listen HOST:PORT [--close]",
		Short: "Have the node listen on a local port and tunnel every connection to an instance (returns at once)",
		Args:  exactArgs(1, "one NAMESPACE/SERVICE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkServiceName(args[0]); err != nil {
				return err
			}
			if listen == "" {
				return usagef("--listen HOST:PORT is required")
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			if closeIt {
				if err := c.CloseForward(cmd.Context(), listen); err != nil {
					return g.explain(err)
				}
				fmt.Fprintf(g.out, "closed %s\n", listen)
				return nil
			}
			req := api.ForwardRequest{Service: args[0], Listen: listen}
			if tags != "" {
				m, err := service.ParseTags(tags)
				if err != nil {
					return usagef("--tags: %v", err)
				}
				req.Tags = m
			}
			ans, err := c.Forward(cmd.Context(), req)
			if err != nil {
				return g.explain(err)
			}
			if g.json {
				return printJSON(g.out, ans)
			}
			fmt.Fprintf(g.out, "forwarding %s -> %s\n", ans.Listen, ans.Service)
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "", "local HOST:PORT the node listens on")
	cmd.Flags().StringVar(&tags, "tags", "", "tag filter k=v,k2=v2")
	cmd.Flags().BoolVar(&closeIt, "close", false, "stop forwarding --listen")
	return cmd
}
