// Package engine runs Karpenter's own provisioning scheduler (sigs.k8s.io/karpenter v1.15.0,
// Provisioner.Schedule) offline over a snapshot of plain objects, with the instance types each
// NodePool's NodeClass gets (kwok's catalog for KWOKNodeClasses, the AWS provider's model for
// EC2NodeClasses, or one catalog for all as an override), and returns what Karpenter would do as
// plain result structs: new NodeClaims per NodePool with their cheapest instance type and price,
// placements onto existing nodes, and unschedulable pods with Karpenter's reasons. Nothing is
// printed and nothing is written anywhere.
//
// Global state it touches, on purpose and documented: importing Karpenter's API packages registers
// its kinds in client-go's scheme.Scheme (Karpenter's own init); the AWS provider's API package
// registers its labels and resources in Karpenter's v1.WellKnownLabels and WellKnownResources (its
// own init, as in the provider's binary); and Plan adds a catalog's label keys to
// v1.WellKnownLabels (as a provider's init would). It imports no kwok provider package (kwok's init
// mutates labels and flags) and none of Karpenter's test-only packages.
package engine

import (
	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/apis/v1alpha1"

	"github.com/karpctl/karpctl/internal/engine/karpenter"
)

// Snapshot is the cluster as plain objects. Plan never modifies them.
type Snapshot struct {
	NodePools  []*karpv1.NodePool
	NodeClaims []*karpv1.NodeClaim
	Nodes      []*corev1.Node
	// Pods bound to nodes (spec.nodeName set). Pods without a node found here are treated as pending.
	Pods []*corev1.Pod
	// PendingPods are the pods to provision for (spec.nodeName empty).
	PendingPods []*corev1.Pod
	DaemonSets  []*appsv1.DaemonSet
	// Volumes: only needed when pending pods use PersistentVolumeClaims.
	PersistentVolumeClaims []*corev1.PersistentVolumeClaim
	PersistentVolumes      []*corev1.PersistentVolume
	StorageClasses         []*storagev1.StorageClass
	CSINodes               []*storagev1.CSINode
	// EC2NodeClasses are the AWS provider's NodeClasses: their status (subnets, AMIs, Ready) and spec
	// (kubelet, block devices, instance-store policy) decide the instance types of their NodePools.
	EC2NodeClasses []*awsv1.EC2NodeClass
	// PodDisruptionBudgets: Karpenter's disruption checks them before it evicts a pod.
	PodDisruptionBudgets []*policyv1.PodDisruptionBudget
	// Live says the objects were read from a cluster, so NodePool status conditions are trusted: a
	// NodePool whose Ready condition is False or Unknown is left out, as Karpenter would, with a
	// warning. Objects from files have no reconciled status: their NodePools are marked Ready.
	Live bool
	// NodeOverlays (karpenter.sh/v1alpha1) adjust instance types' prices and capacity when
	// Karpenter runs with the NodeOverlay feature gate; ignored, with a warning, when it does not.
	NodeOverlays []*v1alpha1.NodeOverlay
	// ConfigMaps are those of the -f files: the Karpenter Deployment's env may take settings from them
	// (read before the cluster's).
	ConfigMaps []*corev1.ConfigMap
	// KarpenterDeployment is the cluster's Karpenter controller (live: the Deployment karpctl found;
	// -f: a Deployment with the Helm chart's app.kubernetes.io/name=karpenter label, which is not
	// expanded into pods). package karpenter reads Karpenter's settings from it.
	KarpenterDeployment *appsv1.Deployment
	// Karpenter are the settings of the cluster's Karpenter (its Deployment, --karpenter-setting):
	// Karpenter's and the provider's options every prediction runs with. nil: Karpenter's defaults.
	Karpenter *karpenter.Settings
	// CapacityReservationsFree is how many instances each EC2 capacity reservation (by ID) still has
	// free: EC2's figure (DescribeCapacityReservations), which no Kubernetes object records, given
	// with --capacity-reservation. A reservation not listed counts none free.
	CapacityReservationsFree map[string]int
	// Warnings are what the reader could not read, and what the plan loses for it; they are reported
	// with the plan.
	Warnings []Warning
}
