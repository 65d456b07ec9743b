package commands

import (
	"errors"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/engine/catalog"
)

// catalogFlags say where instance types come from, for plan and instance-types: by default each
// NodePool's NodeClass decides (kwok's catalog for a KWOKNodeClass, the AWS provider's model for an
// EC2NodeClass, in --region when the cluster does not tell); --catalog overrides that for all.
type catalogFlags struct {
	Catalog string
	Region  string
	// Reservations are --capacity-reservation ID=FREE.
	Reservations []string

	override *catalog.Catalog
	free     map[string]int
}

func (c *catalogFlags) addCatalogFlags(f *pflag.FlagSet) {
	f.StringVar(&c.Catalog, "catalog", "", "Override every NodePool's instance types: kwok or a FILE in Karpenter's kwok instance-types format (default: by NodeClass)")
	f.StringVar(&c.Region, "region", "", "AWS region of EC2NodeClass NodePools when neither the nodes nor the EC2NodeClasses' subnets tell it (offline)")
	f.StringArrayVar(&c.Reservations, "capacity-reservation", nil, "ID=FREE: how many instances an EC2 capacity reservation in an EC2NodeClass's status still has free, which EC2 knows and the cluster does not (repeatable; default none free)")
}

var reservationID = regexp.MustCompile(`^cr-[0-9a-z]+$`)

// parseReservations reads --capacity-reservation ID=FREE (the ID as the EC2NodeClass CRD allows it).
func parseReservations(values []string) (map[string]int, error) {
	if len(values) == 0 {
		return nil, nil
	}
	free := map[string]int{}
	for _, v := range values {
		id, n, ok := strings.Cut(v, "=")
		count, err := strconv.Atoi(n)
		switch {
		case !ok || !reservationID.MatchString(id):
			return nil, cli.UsageError("--capacity-reservation %q: give ID=FREE with a reservation ID like cr-0123456789abcdef0", v)
		case err != nil || count < 0:
			return nil, cli.UsageError("--capacity-reservation %q: FREE must be a whole number of instances, 0 or more", v)
		}
		free[id] = count
	}
	return free, nil
}

// validateCatalog reads --catalog and checks --region; nothing has been sent to the cluster yet.
func (c *catalogFlags) validateCatalog(changed func(string) bool) error {
	c.override = nil
	free, err := parseReservations(c.Reservations)
	if err != nil {
		return err
	}
	c.free = free
	switch {
	case c.Catalog == "" && changed("catalog"):
		return cli.UsageError("--catalog is empty: give kwok or a FILE in Karpenter's kwok instance-types format, or drop it to plan each NodePool by its NodeClass")
	case c.Catalog == "":
	case c.Catalog == "aws":
		return cli.UsageError("--catalog aws is gone: NodePools that reference an EC2NodeClass are planned with the AWS provider's instance-type model for their EC2NodeClass without --catalog (offline, give --region when no subnet or node tells it)")
	case c.Catalog == catalog.Kwok:
		cat, err := catalog.Named(catalog.Kwok)
		if err != nil {
			return err
		}
		c.override = cat
	default:
		if _, err := os.Stat(c.Catalog); err != nil {
			return cli.UsageError("--catalog %q: no such file (give kwok or a FILE in Karpenter's kwok instance-types format)", c.Catalog)
		}
		cat, err := catalog.Load(c.Catalog)
		if err != nil {
			return cli.UsageError("--catalog: %v", err)
		}
		c.override = cat
	}
	if c.Region != "" {
		if known := engine.DefaultAWSModel.Regions(); !slices.Contains(known, c.Region) {
			return cli.UsageError("--region %q is not a region karpctl has AWS prices for (known: %s)", c.Region, strings.Join(known, ", "))
		}
	}
	return nil
}

// source is where the snapshot's NodePools get their instance types.
func (c *catalogFlags) source(snap *engine.Snapshot) (engine.InstanceTypeSource, error) {
	if c.free != nil {
		snap.CapacityReservationsFree = c.free
	}
	if c.override != nil {
		return engine.CatalogSource(c.override, true), nil
	}
	return engine.Sources(snap, c.Region)
}

// inputError turns the engine's input errors (region, zone) into usage errors (exit 2).
func inputError(err error) error {
	if errors.Is(err, engine.ErrRegion) || errors.Is(err, engine.ErrUnknownZone) {
		return cli.UsageError("%v", err)
	}
	return err
}
