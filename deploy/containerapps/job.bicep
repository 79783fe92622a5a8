// Azure Container Apps jobs for ado-access: one scheduled job per entry of
// `jobs`, each running "exporter run JOB" in a container that is thrown
// away afterwards. The store lives in Blob Storage between runs (--state):
// each run downloads it under a blob lease, uploads it only if the run
// succeeded, and releases the lease; a run that finds the lease held exits
// 3 and is retried (replicaRetryLimit). A user-assigned managed identity
// authenticates to Azure DevOps (--auth entra) and to the storage account.
//
// job.json beside this file is the same template as ARM JSON (what
// `az bicep build --file job.bicep` would give); keep the two in step.
//
// Deploy:
//   az deployment group create -g RG --template-file deploy/containerapps/job.bicep \
//     --parameters environmentId=… identityId=… identityClientId=… identityPrincipalId=… \
//                  storageAccountName=… orgUrl=https://dev.azure.com/fabrikam image=… \
//                  registryServer=myregistry.azurecr.io   # a private registry: the identity needs AcrPull

@description('Resource id of the Container Apps environment.')
param environmentId string

@description('Azure region of the jobs.')
param location string = resourceGroup().location

@description('The exporter image, e.g. myregistry.azurecr.io/ado-access/exporter:v1.')
param image string

@description('Azure DevOps organization URL.')
param orgUrl string

@description('Resource id of the user-assigned managed identity the jobs run as. Add it to the Azure DevOps organization with read access.')
param identityId string

@description('Client id of that identity (AZURE_CLIENT_ID for azidentity).')
param identityClientId string

@description('Principal (object) id of that identity, for its role on the storage account.')
param identityPrincipalId string

@description('Storage account holding the state blob.')
param storageAccountName string

@description('Container of the state blob.')
param stateContainer string = 'ado-access-state'

@description('Name of the state blob: one per organization.')
param stateBlob string = 'fabrikam.sqlite'

@description('Login server of the private registry holding the image (e.g. myregistry.azurecr.io), pulled as the jobs\' managed identity, which needs AcrPull on it; empty for a public image.')
param registryServer string = ''

@description('How long one run may last, in seconds, for jobs that give no timeout of their own.')
param replicaTimeout int = 3600

@description('How often a failed run is retried (a run that finds the store leased exits 3 and is retried).')
param replicaRetryLimit int = 2

@description('The jobs: names from schedules/*.yaml in the image, with their cron expressions (UTC) and how long a run may last in seconds (timeout; replicaTimeout if absent). The weekly full sync reads everything and needs the longest.')
param jobs array = [
  { name: 'hourly-sync', cron: '5 * * * *', timeout: 3300 }
  { name: 'weekly-full-sync', cron: '35 3 * * 0', timeout: 14400 }
  { name: 'nightly-warehouse', cron: '45 2 * * *', timeout: 3600 }
  { name: 'quarterly-review-packet', cron: '0 6 1 1,4,7,10 *', timeout: 7200 }
  { name: 'weekly-review-status', cron: '0 7 * * 1', timeout: 3600 }
]

var stateUrl = 'https://${storageAccountName}.blob.${environment().suffixes.storage}/${stateContainer}/${stateBlob}'

// Storage Blob Data Contributor: read, write and lease the state blob.
var blobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource stateRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identityPrincipalId, blobDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributor)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource job 'Microsoft.App/jobs@2024-03-01' = [for j in jobs: {
  name: 'ado-access-${j.name}'
  location: location
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    environmentId: environmentId
    configuration: {
      triggerType: 'Schedule'
      replicaTimeout: j.?timeout ?? replicaTimeout
      replicaRetryLimit: replicaRetryLimit
      registries: empty(registryServer) ? [] : [
        { server: registryServer, identity: identityId }
      ]
      scheduleTriggerConfig: {
        cronExpression: j.cron
        parallelism: 1
        replicaCompletionCount: 1
      }
    }
    template: {
      containers: [
        {
          name: 'exporter'
          image: image
          args: [
            'run'
            j.name
            '--auth'
            'entra'
            '--state'
            stateUrl
          ]
          env: [
            { name: 'ADO_ORG_URL', value: orgUrl }
            { name: 'AZURE_CLIENT_ID', value: identityClientId }
            { name: 'EXPORTER_DB', value: '/tmp/ado-access.db' }
            { name: 'EXPORTER_LOG_FORMAT', value: 'json' }
          ]
          resources: {
            cpu: json('0.5')
            memory: '1Gi'
          }
        }
      ]
    }
  }
  dependsOn: [
    stateRole
  ]
}]
